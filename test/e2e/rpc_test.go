package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sidecar "github.com/openmined/syft-sidecar/clients/go"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// serve runs an in-process Go client with the given handlers until the test
// ends, and waits until the sidecar has registered its endpoints.
func (e *env) serve(app string, handlers map[string]sidecar.HandlerFunc, opts ...sidecar.EndpointOption) {
	e.t.Helper()
	c, err := sidecar.New(e.addr(), sidecar.WithMaxInFlight(8))
	if err != nil {
		e.t.Fatal(err)
	}
	for ep, h := range handlers {
		if err := c.HandleFunc(app, ep, h, opts...); err != nil {
			e.t.Fatal(err)
		}
	}
	runClient(e.t, c)
	for ep := range handlers {
		e.MustRegistered(e.t, app, ep)
	}
}

// runClient runs c until the test ends; Run must then return cleanly.
func runClient(t *testing.T, c *sidecar.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("client Run: %v", err)
		}
	})
}

func echoHandler(_ context.Context, r *sidecar.Request) (*sidecar.Response, error) {
	return &sidecar.Response{Body: r.Body}, nil
}

// The example echo handler answers plain, renamed-in and legacy requests,
// and the response is byte-compatible with what syft-rpc writes.
func TestEchoExample(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "echo")

	t.Run("renamed in", func(t *testing.T) {
		id, p := e.drop(request{app: "echo", endpoint: "/echo", body: []byte(`{"a":1}`)})
		resp := sidecartest.MustResponse(t, p, 10*time.Second)
		wantResponse(t, resp, 200, `{"a":1}`)
		if resp.ID != id {
			t.Fatalf("id = %s, want %s", resp.ID, id)
		}
		// Re-encoding what we parsed must give the very bytes on disk: the
		// sidecar writes syft-rpc's canonical form.
		data, _ := os.ReadFile(sidecartest.ResponsePath(p))
		if got := resp.AppendJSON(nil); string(got) != string(data) {
			t.Fatalf("response is not canonical:\n got %s\nwant %s", data, got)
		}
	})
	t.Run("created in place", func(t *testing.T) {
		r := request{app: "echo", endpoint: "/echo", body: []byte("hi")}
		id, data := r.encode()
		dir := e.dir(r)
		MustMkdir(t, dir)
		p := filepath.Join(dir, id+".request")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "hi")
	})
	t.Run("null body", func(t *testing.T) {
		_, p := e.drop(request{app: "echo", endpoint: "/echo"})
		resp := sidecartest.MustResponse(t, p, 10*time.Second)
		if resp.StatusCode != 200 || resp.Body != nil {
			t.Fatalf("got %d %q, want 200 and a null body", resp.StatusCode, resp.Body)
		}
	})
	t.Run("legacy layout", func(t *testing.T) {
		_, p := e.drop(request{app: "echo", endpoint: "/echo", folder: "-", body: []byte("old")})
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "old")
	})
	// The sender's syft-rpc deletes its request and response once read; the
	// SyftBox client then removes the emptied folder, and no longer hears
	// writes in it when it is made again (README, Responses). A .syftkeep
	// keeps it from being empty.
	t.Run("sender folder kept", func(t *testing.T) {
		_, p := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("k")})
		sidecartest.MustResponse(t, p, 10*time.Second)
		keep := filepath.Join(filepath.Dir(p), rpcpath.KeepFile)
		sidecartest.WaitFor(t, 10*time.Second, "the sender folder's .syftkeep", func() bool {
			_, err := os.Stat(keep)
			return err == nil
		})
	})
	t.Run("permission and schema files", func(t *testing.T) {
		perms, err := os.ReadFile(filepath.Join(e.RPCDir("echo"), "syft.pub.yaml"))
		if err != nil || string(perms) != syftrpc.Permissions {
			t.Fatalf("syft.pub.yaml = %q, %v", perms, err)
		}
		schema, err := os.ReadFile(filepath.Join(e.RPCDir("echo"), "rpc.schema.json"))
		if err != nil || !strings.Contains(string(schema), `"/echo": {`) || !strings.Contains(string(schema), `"returns": "bytes"`) {
			t.Fatalf("rpc.schema.json = %q, %v", schema, err)
		}
	})
}

// Each kind of bad input gets the answer ARCHITECTURE section 3 gives it.
func TestBadInput(t *testing.T) {
	e := newEnv(t, "--request-settle", "300ms", "--grace", "300ms", "--deadline", "2s")
	e.start()
	e.serve("app", map[string]sidecar.HandlerFunc{
		"/echo":        echoHandler,
		"/api/v1/echo": echoHandler,
		"/fail": func(context.Context, *sidecar.Request) (*sidecar.Response, error) {
			return nil, errors.New("boom")
		},
		"/panic": func(context.Context, *sidecar.Request) (*sidecar.Response, error) {
			panic("handler panicked")
		},
		"/teapot": func(context.Context, *sidecar.Request) (*sidecar.Response, error) {
			return nil, sidecar.Error(418, "short and stout")
		},
		"/silent": func(ctx context.Context, _ *sidecar.Request) (*sidecar.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	ep := func(endpoint string) request { return request{app: "app", endpoint: endpoint, body: []byte("x")} }
	// No handler sent a schema: none is published, as syft-event's
	// publish_schema=False.
	if _, err := os.Stat(filepath.Join(e.RPCDir("app"), "rpc.schema.json")); !os.IsNotExist(err) {
		t.Fatalf("rpc.schema.json written without schemas: %v", err)
	}

	t.Run("garbage JSON is 400 naming the problem", func(t *testing.T) {
		p := e.dropBytes(ep("/echo"), sidecartest.NewID(), []byte("{not json"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 400, "Error loading request")
	})
	t.Run("wrong types are 400", func(t *testing.T) {
		id := sidecartest.NewID()
		p := e.dropBytes(ep("/echo"), id, []byte(`{"id":"`+id+`","sender":7,"url":"syft://bob@example.com/app_data/app/rpc/echo","body":null,"headers":{},"created":"2025-01-01T00:00:00+00:00","expires":"2099-01-01T00:00:00+00:00","method":"GET"}`))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 400, "sender")
	})
	t.Run("non-UUID id is 400", func(t *testing.T) {
		r := ep("/echo")
		_, data := r.encode()
		p := e.dropBytes(r, "not-a-uuid", data)
		resp := sidecartest.MustResponse(t, p, 10*time.Second)
		wantResponse(t, resp, 400, "")
	})
	t.Run("spoofed sender is 403", func(t *testing.T) {
		r := ep("/echo")
		r.sender, r.folder = "mallory@example.com", sender
		_, p := e.drop(r)
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 403, "sender")
	})
	t.Run("url naming another app is 403", func(t *testing.T) {
		r := ep("/echo")
		r.url = "syft://" + owner + "/app_data/other/rpc/echo"
		_, p := e.drop(r)
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 403, "url")
	})
	t.Run("url naming another owner is 403", func(t *testing.T) {
		r := ep("/echo")
		r.url = "syft://carol@example.com/app_data/app/rpc/echo"
		_, p := e.drop(r)
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 403, "url")
	})
	t.Run("url with .. is 403", func(t *testing.T) {
		r := ep("/echo")
		r.url = "syft://" + owner + "/app_data/app/rpc/echo/../fail"
		_, p := e.drop(r)
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 403, "")
	})
	t.Run("expired is 419 without reaching a handler", func(t *testing.T) {
		r := request{app: "app", endpoint: "/fail", expires: time.Now().Add(-time.Minute)}
		_, p := e.drop(r)
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 419, "expired")
	})
	t.Run("undeclared endpoint is 404", func(t *testing.T) {
		_, p := e.drop(ep("/nobody"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 404, "/nobody")
	})
	t.Run("handler error is 500 with a generic body", func(t *testing.T) {
		_, p := e.drop(ep("/fail"))
		resp := sidecartest.MustResponse(t, p, 10*time.Second)
		wantResponse(t, resp, 500, "Internal server error")
	})
	t.Run("handler panic is 500 and it keeps serving", func(t *testing.T) {
		_, p := e.drop(ep("/panic"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 500, "")
		_, p = e.drop(ep("/echo"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "x")
	})
	t.Run("handler status is kept", func(t *testing.T) {
		_, p := e.drop(ep("/teapot"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 418, "short and stout")
	})
	t.Run("silent handler is 504", func(t *testing.T) {
		_, p := e.drop(ep("/silent"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 504, "")
	})
	t.Run("nested endpoint", func(t *testing.T) {
		_, p := e.drop(ep("/api/v1/echo"))
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "x")
	})
	t.Run("half-written file is answered once complete, not 400", func(t *testing.T) {
		r := ep("/echo")
		id, data := r.encode()
		dir := e.dir(r)
		p := filepath.Join(dir, id+".request")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data[:len(data)/2])
		f.Sync()
		// Pause for less than the settle delay, as a slow writer might.
		time.Sleep(150 * time.Millisecond)
		if _, err := os.Stat(sidecartest.ResponsePath(p)); err == nil {
			t.Fatal("answered a half-written file")
		}
		f.Write(data[len(data)/2:])
		f.Close()
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "x")
	})
	t.Run("empty file gets 400 only after it settles", func(t *testing.T) {
		r := ep("/echo")
		dir := e.dir(r)
		p := filepath.Join(dir, sidecartest.NewID()+".request")
		start := time.Now()
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		resp := sidecartest.MustResponse(t, p, 10*time.Second)
		if waited := time.Since(start); waited < 300*time.Millisecond {
			t.Fatalf("answered after %s, before the 300ms settle delay", waited)
		}
		wantResponse(t, resp, 400, "")
	})
	t.Run("client's temp, conflict and rejected files are ignored", func(t *testing.T) {
		r := ep("/echo")
		dir := e.dir(r)
		MustMkdir(t, dir)
		id, data := r.encode()
		var paths []string
		for _, name := range []string{
			id + ".request.syft.tmp.123", id + ".request.tmp", id + ".tmp.request",
			id + ".rejected.request", id + ".rejected.20250101.request",
			id + ".syftrejected.request", id + ".syftconflict.request", id + ".conflict.1.request",
			"." + id + ".request",
		} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		_, mp := e.drop(ep("/echo"))
		sidecartest.MustResponse(t, mp, 10*time.Second)
		// Every file that carries the id is one we wrote: nothing answered them.
		entries, _ := os.ReadDir(dir)
		n := 0
		for _, en := range entries {
			if strings.Contains(en.Name(), id) {
				n++
			}
		}
		if n != len(paths) {
			t.Fatalf("%d files carry the id, want the %d ignored ones: something answered them", n, len(paths))
		}
	})
	t.Run("existing response is never overwritten", func(t *testing.T) {
		r := ep("/echo")
		id, data := r.encode()
		dir := e.dir(r)
		MustMkdir(t, dir)
		if err := os.WriteFile(filepath.Join(dir, id+".response"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := e.dropBytes(r, id, data)
		_, mp := e.drop(ep("/echo"))
		sidecartest.MustResponse(t, mp, 10*time.Second)
		if b, _ := os.ReadFile(sidecartest.ResponsePath(p)); string(b) != "mine" {
			t.Fatalf("existing response replaced by %q", b)
		}
	})
	t.Run("sender folder linking out of rpc is not followed", func(t *testing.T) {
		outside := t.TempDir()
		link := filepath.Join(e.RPCDir("app"), "echo", "eve@example.com")
		if err := os.Symlink(outside, link); err != nil {
			t.Fatal(err)
		}
		r := ep("/echo")
		r.sender = "eve@example.com"
		id, data := r.encode()
		if err := os.WriteFile(filepath.Join(outside, id+".request"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, mp := e.drop(ep("/echo"))
		sidecartest.MustResponse(t, mp, 10*time.Second)
		entries, _ := os.ReadDir(outside)
		if len(entries) != 1 {
			t.Fatalf("sidecar wrote through the link: %v", entries)
		}
	})
}

// A stream never holds more requests than it declared.
func TestCreditsBoundConcurrency(t *testing.T) {
	e := newEnv(t)
	e.start()
	c, err := sidecar.New(e.addr(), sidecar.WithMaxInFlight(2))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	cur, peak := 0, 0
	release := make(chan struct{})
	c.HandleFunc("app", "/slow", func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		<-release
		mu.Lock()
		cur--
		mu.Unlock()
		return &sidecar.Response{Body: r.Body}, nil
	})
	runClient(t, c)
	e.MustRegistered(t, "app", "slow")
	var paths []string
	for i := 0; i < 20; i++ {
		_, p := e.drop(request{app: "app", endpoint: "/slow", body: []byte("s")})
		paths = append(paths, p)
	}
	sidecartest.WaitFor(t, 10*time.Second, "two requests in the handler", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return cur == 2
	})
	close(release)
	for _, p := range paths {
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "s")
	}
	if peak != 2 {
		t.Fatalf("peak concurrency %d, want 2", peak)
	}
}

// A handler past its deadline gets 504 on disk and its late reply is
// dropped; one that extends its deadline is answered normally.
func TestDeadlines(t *testing.T) {
	e := newEnv(t)
	e.start()
	late := make(chan struct{})
	e.serve("app", map[string]sidecar.HandlerFunc{
		"/late": func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
			<-late // ignores its context on purpose
			return &sidecar.Response{Body: []byte("too late")}, nil
		},
		"/long": func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
			if err := sidecar.ExtendDeadline(ctx, 10*time.Second); err != nil {
				return nil, err
			}
			// Outlive the declared 300ms deadline; the context must not end.
			select {
			case <-time.After(800 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &sidecar.Response{Body: []byte("worth the wait")}, nil
		},
	}, sidecar.WithDeadline(300*time.Millisecond))
	_, lp := e.drop(request{app: "app", endpoint: "/late", body: []byte("x")})
	wantResponse(t, sidecartest.MustResponse(t, lp, 10*time.Second), 504, "")
	close(late)
	_, p := e.drop(request{app: "app", endpoint: "/long", body: []byte("x")})
	wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "worth the wait")
	if b, _ := os.ReadFile(sidecartest.ResponsePath(lp)); strings.Contains(string(b), "dG9vIGxhdGU") {
		t.Fatal("late reply replaced the 504")
	}
}

// rpc.schema.json is in place when a handler hears Registered: an app that
// publishes its schema at start (as syft-event does) can rely on it then.
func TestSchemaWrittenBeforeRegistered(t *testing.T) {
	e := newEnv(t)
	e.start()
	for i := range 10 {
		app := fmt.Sprintf("schema%d", i)
		found := make(chan error, 1)
		c, err := sidecar.New(e.addr(), sidecar.WithOnRegistered(func(r sidecar.Registered) {
			_, err := os.Stat(filepath.Join(r.RPCDir, "rpc.schema.json"))
			select {
			case found <- err:
			default:
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.HandleFunc(app, "/echo", echoHandler, sidecar.WithSchema(`{"returns": "bytes"}`)); err != nil {
			t.Fatal(err)
		}
		runClient(t, c)
		select {
		case err := <-found:
			if err != nil {
				t.Fatalf("%s: rpc.schema.json not there at Registered: %v", app, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not registered within 10s", app)
		}
	}
}

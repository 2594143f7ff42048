package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sidecar "github.com/openmined/syft-sidecar/clients/go"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// A FIFO or a folder named {id}.request is never read and never blocks
// intake: requests after it, found at start or arriving later, are answered.
// (The scan lists only regular files; a FIFO arriving live reaches intake,
// which opens it without waiting and refuses it by its type.)
func TestNonRegularRequestNeverBlocks(t *testing.T) {
	e := newEnv(t)
	dir := e.RequestDir("echo", "/echo", sender)
	MustMkdir(t, dir)
	mkfifo := func(name string) string {
		p := filepath.Join(dir, name+".request")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// One there at start, found by the scan; one arriving while it runs.
	atStart := mkfifo(sidecartest.NewID())
	_, before := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("before")})
	e.start()
	e.echo("echo")
	wantResponse(t, sidecartest.MustResponse(t, before, 10*time.Second), 200, "before")
	live := mkfifo(sidecartest.NewID())
	MustMkdir(t, filepath.Join(dir, sidecartest.NewID()+".request"))
	_, after := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("after")})
	wantResponse(t, sidecartest.MustResponse(t, after, 10*time.Second), 200, "after")
	for _, p := range []string{atStart, live} {
		if _, err := os.Stat(sidecartest.ResponsePath(p)); !os.IsNotExist(err) {
			t.Fatalf("a FIFO was answered: %v", err)
		}
	}
}

// A request file over --max-request-size is answered 413 without being read
// whole: a 1 GiB one leaves the sidecar's memory where it was. One just
// under the default limit goes through the Go echo and back, so the gRPC
// limits on both sides let every allowed request and reply through.
func TestMaxRequestSize(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "/echo")

	r := request{app: "echo", endpoint: "/echo"}
	huge := filepath.Join(e.dir(r), sidecartest.NewID()+".request")
	MustMkdir(t, filepath.Dir(huge))
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: a gigabyte on paper, nothing on disk.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantResponse(t, sidecartest.MustResponse(t, huge, 10*time.Second), 413, "over the limit of 16777216 bytes")
	if rss := e.sidecar.MemoryBytes(t, "VmHWM"); rss > 256<<20 {
		t.Fatalf("peak RSS %d MiB: the 1 GiB request was read", rss>>20)
	}

	// Base64 makes the file 4/3 of the body: 12 MiB of body is a 16 MiB
	// file less a little, and the echo sends the 12 MiB back.
	body := make([]byte, 12<<20-1024)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	r.body = body
	_, p := e.drop(r)
	resp := sidecartest.MustResponse(t, p, 30*time.Second)
	if resp.StatusCode != 200 || !bytes.Equal(resp.Body, body) {
		t.Fatalf("large request: status %d, %d bytes back, want 200 and the %d sent", resp.StatusCode, len(resp.Body), len(body))
	}
}

// A reply over the sidecar's 64 MiB limit is answered 500 by the Go client
// instead of ending its stream, which would send the request round again.
func TestReplyTooLarge(t *testing.T) {
	e := newEnv(t, "--max-request-size", "1KiB")
	e.start()
	e.serve("app", map[string]sidecar.HandlerFunc{
		"/big": func(context.Context, *sidecar.Request) (*sidecar.Response, error) {
			return &sidecar.Response{Body: make([]byte, sidecar.MaxReplySize+1)}, nil
		},
		"/echo": echoHandler,
	})
	_, p := e.drop(request{app: "app", endpoint: "/big"})
	wantResponse(t, sidecartest.MustResponse(t, p, 30*time.Second), 500, "Internal server error")

	// --max-request-size: one byte over is 413, the limit itself is read.
	r := request{app: "app", endpoint: "/echo"}
	_, data := r.encode()
	r.url = "syft://" + owner + "/app_data/app/rpc/echo?p=" + strings.Repeat("p", 1024-len(data)-len("?p="))
	id, data := r.encode()
	if len(data) != 1024 {
		t.Fatalf("test request is %d bytes, want 1024", len(data))
	}
	ok := e.dropBytes(r, id, data)
	over := e.dropBytes(r, sidecartest.NewID(), append(data, ' '))
	wantResponse(t, sidecartest.MustResponse(t, over, 10*time.Second), 413, "over the limit of 1024 bytes")
	wantResponse(t, sidecartest.MustResponse(t, ok, 10*time.Second), 200, "")
}

// A request file that is a hard link (to a file outside rpc/, say another
// app's request) is answered 400 without being read: neither the handler nor
// the response sees its content. 400 and 403 bodies quote at most a short
// piece of what a file holds.
func TestHardLinkedRequestRefused(t *testing.T) {
	e := newEnv(t)
	e.start()
	var calls atomic.Int32
	e.serve("app", map[string]sidecar.HandlerFunc{
		"/echo": func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
			calls.Add(1)
			return echoHandler(ctx, r)
		},
	})
	// A valid request elsewhere in the datasite, holding a secret.
	r := request{app: "app", endpoint: "/echo", body: []byte("the other app's secret")}
	id, data := r.encode()
	outside := filepath.Join(e.Path, "datasites", owner, "private", id+".request")
	MustMkdir(t, filepath.Dir(outside))
	if err := os.WriteFile(outside, data, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(e.dir(r), id+".request")
	MustMkdir(t, filepath.Dir(link))
	if err := os.Link(outside, link); err != nil {
		t.Fatal(err)
	}
	resp := sidecartest.MustResponse(t, link, 10*time.Second)
	wantResponse(t, resp, 400, "more than one link")
	if raw, _ := os.ReadFile(sidecartest.ResponsePath(link)); bytes.Contains(raw, []byte("secret")) || bytes.Contains(raw, []byte(base64.URLEncoding.EncodeToString(r.body))) {
		t.Fatalf("the response quotes the linked file: %s", raw)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("a hard-linked request reached the handler %d times", n)
	}

	// A sender 10,000 bytes long in the wrong folder: 403, quoted short.
	long := request{app: "app", endpoint: "/echo", sender: strings.Repeat("m", 10000) + "@example.com", folder: sender}
	_, p := e.drop(long)
	resp = sidecartest.MustResponse(t, p, 10*time.Second)
	wantResponse(t, resp, 403, "sender")
	if len(resp.Body) > 300 {
		t.Fatalf("403 body is %d bytes: it quotes the file at length", len(resp.Body))
	}
}

// Every request file is counted, whatever its answer; refusals leave one
// info line per reason; files that can never be answered (a response name
// over 255 bytes, a path that is not UTF-8) are ignored by rule, counted
// and logged once, however often a rescan sees them.
func TestRefusalsCountedAndLogged(t *testing.T) {
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr, "--log-level", "info", "--grace", "300ms",
		"--request-settle", "300ms", "--reconcile-interval", "200ms")
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "/echo")
	ep := request{app: "echo", endpoint: "/echo", body: []byte("x")}
	var answers []string
	for i := 0; i < 2; i++ {
		_, p := e.drop(ep)
		answers = append(answers, p)
		answers = append(answers, e.dropBytes(ep, sidecartest.NewID(), []byte("{garbage")))
	}
	spoofed := ep
	spoofed.sender, spoofed.folder = "mallory@example.com", sender
	_, p := e.drop(spoofed)
	answers = append(answers, p)
	_, p = e.drop(request{app: "echo", endpoint: "/nobody"})
	answers = append(answers, p)
	for _, p := range answers {
		sidecartest.MustResponse(t, p, 10*time.Second)
	}

	dir := e.dir(ep)
	long := filepath.Join(dir, strings.Repeat("a", 255-len(".request"))+".request")
	_, data := ep.encode()
	if err := os.WriteFile(long, data, 0o644); err != nil {
		t.Fatal(err)
	}
	badDir := filepath.Join(e.EndpointDir("echo", "/echo"), "al\xffce@example.com")
	MustMkdir(t, badDir)
	if err := os.WriteFile(filepath.Join(badDir, sidecartest.NewID()+".request"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rescans := func() int {
		n, _ := strconv.Atoi(metric(t, maddr, `syft_sidecar_watcher_rescans_total{reason="reconcile"}`))
		return n
	}
	start := rescans()
	sidecartest.WaitFor(t, 10*time.Second, "two more reconcile rescans", func() bool { return rescans() >= start+2 })

	for _, c := range []struct{ sample, want string }{
		{`syft_sidecar_requests_received_total{app="echo",endpoint="/echo"}`, "5"},
		{`syft_sidecar_requests_received_total{app="echo",endpoint="_unknown"}`, "1"},
		{`syft_sidecar_requests_ignored_total{reason="name_too_long"}`, "1"},
		{`syft_sidecar_requests_ignored_total{reason="not_utf8"}`, "1"},
	} {
		if v := metric(t, maddr, c.sample); v != c.want {
			t.Errorf("%s = %q, want %s", c.sample, v, c.want)
		}
	}
	out := e.sidecar.Output()
	for _, reason := range []string{"unreadable", "forbidden", "no_handler", "name_too_long", "not_utf8"} {
		if n := strings.Count(out, "msg=\"request refused\" component=bridge reason="+reason+" "); n != 1 {
			t.Errorf("reason %s logged %d times at info, want once", reason, n)
		}
	}
	if strings.Contains(out, "level=WARN") {
		t.Errorf("warnings logged:\n%s", out)
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	sidecar "github.com/openmined/syft-sidecar/clients/go"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// burst drops n requests to app's /echo with bodies "0".."n-1" and returns
// their paths.
func (e *env) burst(app string, n int) []string {
	e.t.Helper()
	paths := make([]string, n)
	for i := range paths {
		_, paths[i] = e.drop(request{app: app, endpoint: "/echo", body: []byte(fmt.Sprint(i))})
	}
	return paths
}

// allAnswered waits until every request has a response, then checks each
// is well formed and echoes its own request's body.
func allAnswered(t *testing.T, paths []string, within time.Duration) {
	t.Helper()
	sidecartest.WaitFor(t, within, fmt.Sprintf("%d responses", len(paths)), func() bool {
		for _, p := range paths {
			if _, err := os.Stat(sidecartest.ResponsePath(p)); err != nil {
				return false
			}
		}
		return true
	})
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		req, err := syftrpc.ParseRequest(data)
		if err != nil {
			t.Fatal(err)
		}
		if data, err = os.ReadFile(sidecartest.ResponsePath(p)); err != nil {
			t.Fatal(err)
		}
		resp, err := syftrpc.ParseResponse(data)
		if err != nil {
			t.Fatalf("malformed response %s: %v", p, err)
		}
		if resp.StatusCode != 200 || string(resp.Body) != string(req.Body) || resp.ID != req.ID {
			t.Fatalf("response to %s: %d %s %q, want 200 %s %q", filepath.Base(p), resp.StatusCode, resp.ID, resp.Body, req.ID, req.Body)
		}
	}
	// Atomic writes leave no temporary files, and no request has two answers.
	for _, dir := range dirsOf(paths) {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			if strings.HasSuffix(en.Name(), ".tmp") {
				t.Fatalf("temporary file left: %s", en.Name())
			}
		}
	}
}

func dirsOf(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		d := filepath.Dir(p)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func TestRequestsWrittenWhileDownAreAnswered(t *testing.T) {
	e := newEnv(t)
	paths := e.burst("echo", 50)
	e.start()
	e.echo("echo")
	allAnswered(t, paths, 20*time.Second)
}

// kill -9 mid-burst, restart: every request is answered exactly once.
func TestSidecarKilledMidBurst(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "echo")
	paths := e.burst("echo", 2000)
	// Kill once some, but not all, are answered.
	sidecartest.WaitFor(t, 20*time.Second, "first responses", func() bool {
		_, err := os.Stat(sidecartest.ResponsePath(paths[10]))
		return err == nil
	})
	e.sidecar.Kill()
	more := e.burst("echo", 200)
	e.start()
	allAnswered(t, append(paths, more...), 60*time.Second)
}

// A handler killed while holding requests loses none: the restarted one (or
// another) gets them with the next attempt number.
func TestHandlerKilledMidRequest(t *testing.T) {
	e := newEnv(t)
	e.start()
	h := e.echo("echo")
	e.MustRegistered(t, "echo", "echo")
	paths := e.burst("echo", 1000)
	sidecartest.WaitFor(t, 20*time.Second, "first responses", func() bool {
		_, err := os.Stat(sidecartest.ResponsePath(paths[5]))
		return err == nil
	})
	h.Kill()
	e.echo("echo")
	allAnswered(t, paths, 60*time.Second)
}

// Two handlers compete for one endpoint; one is killed; nothing is lost.
func TestCompetingHandlers(t *testing.T) {
	e := newEnv(t)
	e.start()
	a := e.echo("echo")
	e.echo("echo")
	e.MustRegistered(t, "echo", "echo")
	paths := e.burst("echo", 1000)
	a.Kill()
	allAnswered(t, paths, 60*time.Second)
}

// SIGTERM drains and exits 0; what was not answered is answered after a
// restart, each request exactly once.
func TestSigtermDrains(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "echo")
	paths := e.burst("echo", 500)
	if code := e.sidecar.Stop(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	e.start()
	allAnswered(t, paths, 60*time.Second)
}

// A request that every handler it reaches dies on is answered 502 after
// --max-attempts, instead of going round forever.
func TestPoisonRequestStops(t *testing.T) {
	e := newEnv(t, "--max-attempts", "3")
	e.start()
	cc, err := grpc.NewClient(e.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var p string
	for attempt := uint32(1); attempt <= 3; attempt++ {
		c, cancel := context.WithCancel(context.Background())
		st, err := pb.NewSidecarServiceClient(cc).Connect(c)
		if err != nil {
			t.Fatal(err)
		}
		st.Send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Register{Register: &pb.Register{App: "app", Endpoints: []*pb.Endpoint{{Path: "/crash"}}}}})
		if attempt == 1 {
			e.MustRegistered(t, "app", "crash")
			_, p = e.drop(request{app: "app", endpoint: "/crash"})
		}
		for {
			m, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if r := m.GetRequest(); r != nil {
				if r.GetAttempt() != attempt {
					t.Fatalf("attempt %d, want %d", r.GetAttempt(), attempt)
				}
				break
			}
		}
		cancel() // the handler "dies" holding the request
	}
	wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 502, "lost 3 times")
}

// More requests than --max-pending: the sidecar holds that many (the
// handler's 10 in flight, 30 waiting), leaves the rest on disk, reads them
// as the backlog drains, and answers every one once.
func TestBacklogBeyondMaxPending(t *testing.T) {
	addr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--max-pending", "40", "--metrics-listen", addr)
	e.start()
	c, err := sidecar.New(e.addr(), sidecar.WithMaxInFlight(10))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	served := map[string]int{}
	c.HandleFunc("backlog", "/slow", func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
		<-release
		mu.Lock()
		served[r.ID]++
		mu.Unlock()
		return &sidecar.Response{Body: r.Body}, nil
	})
	runClient(t, c)
	e.MustRegistered(t, "backlog", "slow")
	var paths []string
	for range 200 {
		_, p := e.drop(request{app: "backlog", endpoint: "/slow", body: []byte("b")})
		paths = append(paths, p)
	}
	sidecartest.WaitFor(t, 10*time.Second, "the sidecar to leave requests on disk", func() bool {
		return strings.Contains(e.sidecar.Output(), "backlog: holding")
	})
	// Nothing is answered while the handler holds its 10: the count is exact.
	labels := `{app="backlog",endpoint="/slow"}`
	if w, f := metric(t, addr, "syft_sidecar_requests_waiting"+labels), metric(t, addr, "syft_sidecar_requests_in_flight"+labels); w != "30" || f != "10" {
		t.Fatalf("waiting %s, in flight %s; want 30 and 10 (--max-pending 40)", w, f)
	}
	close(release)
	for _, p := range paths {
		wantResponse(t, sidecartest.MustResponse(t, p, 20*time.Second), 200, "b")
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range served {
		if n != 1 {
			t.Fatalf("request %s served %d times", id, n)
		}
	}
	if !strings.Contains(e.sidecar.Output(), "backlog: reading the requests left on disk") {
		t.Fatal("no backlog rescan logged")
	}
}

// A response removed while its request stays is written again: the SyftBox
// client removes a response whose upload its server dropped, and the
// sender would otherwise wait for the next reconcile. A pair the sender
// removes, response first even, is left alone.
func TestLostResponseAnsweredAgain(t *testing.T) {
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr)
	e.start()
	e.echo("echo")
	_, lost := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("lost")})
	_, read := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("read")})
	sidecartest.MustResponse(t, lost, 10*time.Second)
	sidecartest.MustResponse(t, read, 10*time.Second)

	for _, p := range []string{sidecartest.ResponsePath(read), read, sidecartest.ResponsePath(lost)} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	allAnswered(t, []string{lost}, 20*time.Second)
	sidecartest.WaitFor(t, 10*time.Second, "responses_lost_total 1", func() bool {
		return metric(t, maddr, "syft_sidecar_responses_lost_total") == "1"
	})
	// The pair's timer was set before the lost response's, for the same
	// delay, so it has run: nothing came back for it.
	if _, err := os.Stat(sidecartest.ResponsePath(read)); !os.IsNotExist(err) {
		t.Fatalf("a response came back for a request its sender removed: %v", err)
	}
}

// An app whose first registration failed after its rpc folder was made is
// watched all the same: the registration that later succeeds finds the app
// made already and starts no watch of its own.
func TestAppWatchedAfterAFailedFirstRegistration(t *testing.T) {
	e := newEnv(t)
	e.start()
	blocker := e.EndpointDir("echo", "/echo") // a file where the endpoint's folder goes
	MustMkdir(t, filepath.Dir(blocker))
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	echo := e.echo("echo")
	sidecartest.WaitFor(t, 10*time.Second, "the first registration refused", func() bool {
		return strings.Contains(echo.Output(), "endpoint /echo")
	})
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	_, req := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("after")})
	sidecartest.MustResponse(t, req, 30*time.Second)
}

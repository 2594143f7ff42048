package sidecar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// These tests run the real sidecar (../../cmd/syft-sidecar) and the real echo
// example as processes (see internal/sidecartest), on request files in a
// temporary data dir. -short skips them. If the sidecar does not build, they
// fail with the compiler's output.

// The datasite and the peer of every test (see sidecartest.Owner).
const owner, sender = sidecartest.Owner, sidecartest.Sender

const (
	// answerTimeout bounds every wait for a response file. Generous: it only
	// matters when something is broken.
	answerTimeout = 20 * time.Second
)

// helperEnv makes the test binary a handler process (see TestMain).
const helperEnv = "SIDECAR_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	defer sidecartest.RemoveBinaries()
	m.Run()
}

// helperMain is a handler process that takes requests to /echo and never
// answers them, printing "got ID" for each: the one that gets killed.
func helperMain() int {
	addr, app := os.Args[1], os.Args[2]
	c, err := New(addr, WithMaxInFlight(8), WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		WithOnRegistered(func(Registered) { fmt.Println("registered") }))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c.HandleFunc(app, "/echo", func(ctx context.Context, r *Request) (*Response, error) {
		fmt.Println("got", r.ID)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err := c.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// MustStartSidecar starts the real sidecar on dataDir, with extra flags
// after the usual ones, and returns it with its address; a second call with
// the same dataDir is a restart. -short skips the test.
func MustStartSidecar(t *testing.T, dataDir sidecartest.DataDir, extra ...string) (sc *sidecartest.Proc, addr string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real sidecar")
	}
	sock := filepath.Join(dataDir.Path, "sidecar.sock")
	addr = "unix://" + sock
	args := []string{"--data-dir", dataDir.Path, "--email", owner, "--listen", addr,
		"--metrics-listen", "", "--grace", "2s", "--request-settle", "1s", "--log-level", "debug"}
	sc = sidecartest.MustStartSidecar(t, sock, append(args, extra...)...)
	return sc, addr
}

// MustDropRequest writes a POST to app's endpoint from sender, as syft-rpc
// does, and returns the request's path.
func MustDropRequest(t *testing.T, dataDir sidecartest.DataDir, app, endpoint string, body []byte) string {
	t.Helper()
	req := syftrpc.Request{
		ID: sidecartest.NewID(), Sender: sender, URL: "syft://" + owner + "/app_data/" + app + "/rpc" + endpoint,
		Body: body, Headers: map[string]string{}, Created: time.Now().UTC(),
		Expires: time.Date(2099, 11, 24, 11, 1, 53, 513327000, time.UTC), Method: syftrpc.MethodPost,
	}
	return dataDir.MustDrop(t, dataDir.RequestDir(app, endpoint, sender), req.ID, req.AppendJSON(nil))
}

// MustResponse waits up to answerTimeout for the response to the request at
// reqPath.
func MustResponse(t *testing.T, reqPath string) *syftrpc.Response {
	t.Helper()
	return sidecartest.MustResponse(t, reqPath, answerTimeout)
}

// MustAnswer drops a request and checks the response's status and body.
func MustAnswer(t *testing.T, dataDir sidecartest.DataDir, app, endpoint string, body []byte, code int, want []byte) {
	t.Helper()
	r := MustResponse(t, MustDropRequest(t, dataDir, app, endpoint, body))
	got := r.Body
	if r.StatusCode != code || string(got) != string(want) || (got == nil) != (want == nil) {
		t.Fatalf("%s: response %d %q (null %v), want %d %q (null %v)", endpoint, r.StatusCode, got, got == nil, code, want, want == nil)
	}
}

// registrations returns an OnRegistered option and a channel it reports on.
func registrations() (Option, <-chan Registered) {
	ch := make(chan Registered, 16)
	return WithOnRegistered(func(r Registered) {
		select {
		case ch <- r:
		default: // nobody is counting any more
		}
	}), ch
}

func MustRegistered(t *testing.T, ch <-chan Registered) Registered {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(answerTimeout):
		t.Fatal("client did not register")
		return Registered{}
	}
}

func TestIntegrationHandlers(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	_, addr := MustStartSidecar(t, dataDir)
	onReg, regs := registrations()
	c := MustNew(t, addr, onReg, WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.HandleFunc("echo", "/echo", echoHandler))
	must(c.HandleFunc("echo", "/api/v1/echo", echoHandler))
	must(c.HandleFunc("echo", "/fail", func(ctx context.Context, r *Request) (*Response, error) {
		return nil, errors.New("database password is hunter2")
	}))
	must(c.HandleFunc("echo", "/panic", func(ctx context.Context, r *Request) (*Response, error) { panic("boom") }))
	must(c.HandleFunc("echo", "/teapot", func(ctx context.Context, r *Request) (*Response, error) {
		return nil, Error(418, "I'm a teapot")
	}))
	must(c.HandleFunc("echo", "/extend", func(ctx context.Context, r *Request) (*Response, error) {
		if err := ExtendDeadline(ctx, 30*time.Second); err != nil {
			return nil, err
		}
		select {
		case <-time.After(1500 * time.Millisecond): // well past the declared deadline
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &Response{Body: []byte("extended")}, nil
	}, WithDeadline(500*time.Millisecond)))
	must(c.HandleFunc("echo", "/noextend", func(ctx context.Context, r *Request) (*Response, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}, WithDeadline(500*time.Millisecond)))
	runClient(t, c)
	reg := MustRegistered(t, regs)
	if reg.App != "echo" || reg.Owner != owner || reg.RPCDir != dataDir.RPCDir("echo") {
		t.Fatalf("registered = %+v", reg)
	}
	if reg.SidecarVersion == "" || !slices.Equal(reg.Capabilities, pb.Capabilities) {
		t.Errorf("registered: sidecar version %q with %q, want a version with %q", reg.SidecarVersion, reg.Capabilities, pb.Capabilities)
	}

	t.Run("echo", func(t *testing.T) { MustAnswer(t, dataDir, "echo", "/echo", []byte("hi"), 200, []byte("hi")) })
	t.Run("null body", func(t *testing.T) { MustAnswer(t, dataDir, "echo", "/echo", nil, 200, nil) })
	t.Run("empty body", func(t *testing.T) { MustAnswer(t, dataDir, "echo", "/echo", []byte{}, 200, []byte{}) })
	t.Run("nested endpoint", func(t *testing.T) {
		MustAnswer(t, dataDir, "echo", "/api/v1/echo", []byte("deep"), 200, []byte("deep"))
	})
	t.Run("error", func(t *testing.T) { MustAnswer(t, dataDir, "echo", "/fail", nil, 500, []byte(InternalErrorBody)) })
	t.Run("panic", func(t *testing.T) {
		MustAnswer(t, dataDir, "echo", "/panic", nil, 500, []byte(InternalErrorBody))
		MustAnswer(t, dataDir, "echo", "/echo", []byte("still here"), 200, []byte("still here"))
	})
	t.Run("status error", func(t *testing.T) { MustAnswer(t, dataDir, "echo", "/teapot", nil, 418, []byte("I'm a teapot")) })
	t.Run("extend deadline", func(t *testing.T) { MustAnswer(t, dataDir, "echo", "/extend", nil, 200, []byte("extended")) })
	t.Run("deadline", func(t *testing.T) {
		r := MustResponse(t, MustDropRequest(t, dataDir, "echo", "/noextend", nil))
		if r.StatusCode != 504 {
			t.Fatalf("status %d, want 504", r.StatusCode)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		// More requests than the stream takes at once, all answered.
		var paths []string
		for i := range 3 * DefaultMaxInFlight {
			paths = append(paths, MustDropRequest(t, dataDir, "echo", "/echo", fmt.Append(nil, i)))
		}
		for i, p := range paths {
			if got := MustResponse(t, p).Body; string(got) != fmt.Sprint(i) {
				t.Fatalf("response %d: body %q", i, got)
			}
		}
	})
}

func TestIntegrationSidecarRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dataDir := sidecartest.MustDataDir(t)
			sc, addr := MustStartSidecar(t, dataDir)
			onReg, regs := registrations()
			c := MustNew(t, addr, onReg, WithBackoff(10*time.Millisecond, 200*time.Millisecond))
			if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
				t.Fatal(err)
			}
			runClient(t, c)
			MustRegistered(t, regs)
			MustAnswer(t, dataDir, "echo", "/echo", []byte("one"), 200, []byte("one"))

			if sig == syscall.SIGKILL {
				sc.Kill()
			} else {
				sc.Stop(t)
			}
			// A request that arrives while the sidecar is down is answered
			// after it is back.
			waiting := MustDropRequest(t, dataDir, "echo", "/echo", []byte("while down"))
			MustStartSidecar(t, dataDir)
			MustRegistered(t, regs)
			if got := MustResponse(t, waiting).Body; string(got) != "while down" {
				t.Fatalf("body %q", got)
			}
			MustAnswer(t, dataDir, "echo", "/echo", []byte("two"), 200, []byte("two"))
		})
	}
}

// lines reads a process's stdout line by line onto a channel, which is
// closed when the process closes it.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

func mustLine(t *testing.T, ch <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(answerTimeout)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("process ended before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("process did not print %q", prefix)
		}
	}
}

func TestIntegrationFailover(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	_, addr := MustStartSidecar(t, dataDir)

	// The first handler takes requests and never answers them.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hang := exec.Command(self, addr, "echo")
	hang.Env = append(os.Environ(), helperEnv+"=hang")
	hang.Stderr = os.Stderr
	out, err := hang.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hang.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Process.Kill(); hang.Wait() })
	hangOut := lines(out)
	mustLine(t, hangOut, "registered")

	const n = 5
	var paths []string
	for i := range n {
		paths = append(paths, MustDropRequest(t, dataDir, "echo", "/echo", fmt.Append(nil, "req ", i)))
	}
	for range n {
		mustLine(t, hangOut, "got ")
	}

	// The second, the echo example, serves the same endpoint; the first dies
	// holding every request.
	echo := sidecartest.MustStartEcho(t, addr, "echo")
	if err := hang.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	for i, p := range paths {
		r := MustResponse(t, p)
		if got := r.Body; r.StatusCode != 200 || string(got) != fmt.Sprint("req ", i) {
			t.Fatalf("response %d: %d %q", i, r.StatusCode, got)
		}
	}
	MustAnswer(t, dataDir, "echo", "/echo", nil, 200, nil)

	// The example exits cleanly on SIGTERM.
	if code := echo.Stop(t); code != 0 {
		t.Fatalf("echo exited with code %d", code)
	}
}

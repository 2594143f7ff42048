package sidecar

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real sidecar (../../cmd/syft-sidecar) and the real echo
// example as processes, on request files under t.TempDir(). -short skips
// them. If the sidecar does not build, they fail with the compiler's output.

const (
	owner  = "bob@example.com"
	sender = "alice@example.com"
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
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// helperMain is a handler process that takes requests to /echo and never
// answers them, printing "got ID" for each: the one that gets killed.
func helperMain() int {
	addr, app := os.Args[1], os.Args[2]
	c, err := New(addr, WithConcurrency(8), WithBackoff(10*time.Millisecond, 200*time.Millisecond),
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

var builds struct {
	once    sync.Once
	dir     string
	sidecar string
	echo    string
	err     error
}

// MustBinaries builds the sidecar and the echo example once per test run.
func MustBinaries(t *testing.T) (sidecarBin, echoBin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real sidecar")
	}
	builds.once.Do(func() {
		if builds.dir, builds.err = os.MkdirTemp("", "sidecar-client-test"); builds.err != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			builds.err = fmt.Errorf("find go tool: %w", err)
			return
		}
		builds.sidecar = filepath.Join(builds.dir, "syft-sidecar")
		builds.echo = filepath.Join(builds.dir, "echo")
		for _, b := range []struct{ out, pkg string }{{builds.sidecar, "../../cmd/syft-sidecar"}, {builds.echo, "./examples/echo"}} {
			out, err := exec.Command(goBin, "build", "-o", b.out, b.pkg).CombinedOutput()
			if err != nil {
				builds.err = fmt.Errorf("build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if builds.err != nil {
		t.Fatalf("cannot run the integration tests: %v", builds.err)
	}
	return builds.sidecar, builds.echo
}

// sidecarProc is one run of the real sidecar over a data dir.
type sidecarProc struct {
	dataDir string
	addr    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// MustStartSidecar starts the sidecar on dataDir; a second call with the
// same dataDir is a restart.
func MustStartSidecar(t *testing.T, dataDir string, args ...string) *sidecarProc {
	t.Helper()
	bin, _ := MustBinaries(t)
	// Socket paths are limited to about 100 bytes, t.TempDir() can be long.
	sock := filepath.Join(dataDir, "sidecar.sock")
	if len(sock) > 100 {
		t.Fatalf("socket path too long: %s", sock)
	}
	logf, err := os.CreateTemp(dataDir, "sidecar-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	argv := append([]string{"--data-dir", dataDir, "--email", owner, "--listen", "unix://" + sock,
		"--metrics-listen", "", "--grace", "2s", "--settle", "1s", "--log-level", "debug"}, args...)
	p := &sidecarProc{dataDir: dataDir, addr: "unix://" + sock, cmd: exec.Command(bin, argv...), logPath: logf.Name(), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sidecar: %v", err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.Stop(t, syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			t.Logf("sidecar log %s:\n%s", p.logPath, b)
		}
	})
	return p
}

// Stop signals the sidecar and waits for it to exit.
func (p *sidecarProc) Stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(answerTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("sidecar did not exit on %v", sig)
	}
}

// requestFile is a request as syft-rpc writes it, keys in its order.
type requestFile struct {
	ID      string            `json:"id"`
	Sender  string            `json:"sender"`
	URL     string            `json:"url"`
	Body    *string           `json:"body"`
	Headers map[string]string `json:"headers"`
	Created string            `json:"created"`
	Expires string            `json:"expires"`
	Method  string            `json:"method"`
}

type responseFile struct {
	ID         string  `json:"id"`
	Sender     string  `json:"sender"`
	URL        string  `json:"url"`
	Body       *string `json:"body"`
	StatusCode int     `json:"status_code"`
}

// body decodes the response body; nil means JSON null.
func (r responseFile) body(t *testing.T) []byte {
	t.Helper()
	if r.Body == nil {
		return nil
	}
	b, err := base64.URLEncoding.DecodeString(*r.Body)
	if err != nil {
		if b, err = base64.StdEncoding.DecodeString(*r.Body); err != nil {
			t.Fatalf("response body %q: %v", *r.Body, err)
		}
	}
	return b
}

func newUUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// MustDropRequest writes a request the way the SyftBox client delivers one:
// a temporary name in the same folder, then a rename. It returns the path of
// the response file to expect.
func MustDropRequest(t *testing.T, dataDir, app, endpoint string, body []byte) string {
	t.Helper()
	dir := filepath.Join(dataDir, "datasites", owner, "app_data", app, "rpc", filepath.FromSlash(strings.TrimPrefix(endpoint, "/")), sender)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := newUUID(t)
	req := requestFile{
		ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/" + app + "/rpc" + endpoint,
		Headers: map[string]string{}, Created: time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		Expires: "2099-11-24T11:01:53.513327+00:00", Method: "POST",
	}
	if body != nil {
		s := base64.URLEncoding.EncodeToString(body)
		req.Body = &s
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, id+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, id+".request")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, id+".response")
}

// MustResponse polls for a response file until answerTimeout.
func MustResponse(t *testing.T, path string) responseFile {
	t.Helper()
	deadline := time.Now().Add(answerTimeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var r responseFile
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("response %s: %v\n%s", path, err, b)
			}
			return r
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no response %s after %v", filepath.Base(path), answerTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MustAnswer drops a request and checks the response's status and body.
func MustAnswer(t *testing.T, dataDir, app, endpoint string, body []byte, code int, want []byte) {
	t.Helper()
	r := MustResponse(t, MustDropRequest(t, dataDir, app, endpoint, body))
	got := r.body(t)
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
	dataDir := t.TempDir()
	MustBinaries(t)
	sc := MustStartSidecar(t, dataDir)
	onReg, regs := registrations()
	c := MustNew(t, sc.addr, onReg, WithBackoff(10*time.Millisecond, 200*time.Millisecond))
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
	if reg.App != "echo" || reg.Owner != owner || reg.RPCDir != filepath.Join(dataDir, "datasites", owner, "app_data", "echo", "rpc") {
		t.Fatalf("registered = %+v", reg)
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
		for i := range 3 * DefaultConcurrency {
			paths = append(paths, MustDropRequest(t, dataDir, "echo", "/echo", fmt.Append(nil, i)))
		}
		for i, p := range paths {
			if got := MustResponse(t, p).body(t); string(got) != fmt.Sprint(i) {
				t.Fatalf("response %d: body %q", i, got)
			}
		}
	})
}

func TestIntegrationSidecarRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dataDir := t.TempDir()
			sc := MustStartSidecar(t, dataDir)
			onReg, regs := registrations()
			c := MustNew(t, sc.addr, onReg, WithBackoff(10*time.Millisecond, 200*time.Millisecond))
			if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
				t.Fatal(err)
			}
			runClient(t, c)
			MustRegistered(t, regs)
			MustAnswer(t, dataDir, "echo", "/echo", []byte("one"), 200, []byte("one"))

			sc.Stop(t, sig)
			// A request that arrives while the sidecar is down is answered
			// after it is back.
			waiting := MustDropRequest(t, dataDir, "echo", "/echo", []byte("while down"))
			MustStartSidecar(t, dataDir)
			MustRegistered(t, regs)
			if got := MustResponse(t, waiting).body(t); string(got) != "while down" {
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
	dataDir := t.TempDir()
	_, echoBin := MustBinaries(t)
	sc := MustStartSidecar(t, dataDir)

	// The first handler takes requests and never answers them.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hang := exec.Command(self, sc.addr, "echo")
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
	var echoErr strings.Builder
	echo := exec.Command(echoBin, "--sidecar", sc.addr, "--app", "echo")
	echo.Stderr = &syncWriter{w: &echoErr}
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	echoDone := make(chan error, 1)
	go func() { echoDone <- echo.Wait() }()
	t.Cleanup(func() {
		echo.Process.Kill()
		<-echoDone
		if t.Failed() {
			t.Logf("echo stderr:\n%s", echoErr.String())
		}
	})
	if err := hang.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	for i, p := range paths {
		r := MustResponse(t, p)
		if got := r.body(t); r.StatusCode != 200 || string(got) != fmt.Sprint("req ", i) {
			t.Fatalf("response %d: %d %q", i, r.StatusCode, got)
		}
	}
	MustAnswer(t, dataDir, "echo", "/echo", nil, 200, nil)

	// The example exits cleanly on SIGTERM.
	echo.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-echoDone:
		echoDone <- err // for the cleanup
		if err != nil {
			t.Fatalf("echo exited with %v", err)
		}
	case <-time.After(answerTimeout):
		t.Fatal("echo did not exit on SIGTERM")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

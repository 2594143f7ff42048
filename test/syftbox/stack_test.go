package syftbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const (
	aliceEmail = "alice@openmined.org"
	bobEmail   = "bob@openmined.org"
	bucket     = "syftbox"
)

// stack is one SyftBox world: an in-memory S3, the server, and the clients.
type stack struct {
	dir       string
	s3        *httptest.Server
	server    *proc
	serverURL string
	clientBin string
	alice     *client
	bob       *client

	bobSidecar *proc
}

// client is one SyftBox user: a HOME of its own holding the config, the
// data dir and the client's log.
type client struct {
	email   string
	home    string
	dataDir string
	config  string
	bin     string
	proc    *proc
}

// proc is a process whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func start(name string, args []string, dir string, env []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, f, f
	// Its own process group, so that stopping it stops what it started
	// (the client's apps).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group and waits, then SIGKILL.
func (p *proc) stop() {
	if p == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logHas reports whether the log holds a line containing every one of parts.
func (p *proc) logHas(parts ...string) bool {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		all := true
		for _, s := range parts {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cleanEnv is the environment without what would make a SyftBox process
// use another config, S3 or CA bundle (the server panics with
// AWS_CA_BUNDLE set to a PEM file).
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "SYFTBOX_") || k == "HOME" || k == "SYFT_SIDECAR_ADDR" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func startStack(dir string) (*stack, error) {
	serverBin, clientBin, err := syftboxBinaries()
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir, clientBin: clientBin}
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	s.s3 = httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.serverURL = "http://" + addr
	srvDir := filepath.Join(dir, "server")
	if err := os.MkdirAll(srvDir, 0o755); err != nil {
		return nil, err
	}
	s.server, err = start(serverBin, []string{"--bind", addr, "--dataDir", filepath.Join(srvDir, "data"), "--logDir", filepath.Join(srvDir, "logs")},
		srvDir, cleanEnv(
			"HOME="+srvDir,
			"SYFTBOX_BLOB_BUCKET_NAME="+bucket,
			"SYFTBOX_BLOB_REGION=us-east-1",
			"SYFTBOX_BLOB_ENDPOINT="+s.s3.URL,
			"SYFTBOX_BLOB_ACCESS_KEY=test",
			"SYFTBOX_BLOB_SECRET_KEY=testtest",
			"SYFTBOX_AUTH_ENABLED=false",
			"SYFTBOX_EMAIL_ENABLED=false",
		), filepath.Join(dir, "server.log"))
	if err != nil {
		s.close()
		return nil, err
	}
	err = waitFor(60*time.Second, "the SyftBox server's /healthz", func() bool {
		if s.server.exited() {
			return true
		}
		resp, err := http.Get(s.serverURL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err == nil && s.server.exited() {
		err = fmt.Errorf("server exited: %v\n%s", s.server.err, s.server.tail())
	}
	if err != nil {
		s.close()
		return nil, err
	}
	for _, c := range []**client{&s.alice, &s.bob} {
		email := aliceEmail
		if c == &s.bob {
			email = bobEmail
		}
		*c, err = s.newClient(email)
		if err == nil {
			err = (*c).start()
		}
		if err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *stack) newClient(email string) (*client, error) {
	name, _, _ := strings.Cut(email, "@")
	home := filepath.Join(s.dir, name)
	c := &client{
		email:   email,
		home:    home,
		dataDir: filepath.Join(home, "SyftBox"),
		config:  filepath.Join(home, ".syftbox", "config.json"),
		bin:     s.clientBin,
	}
	if err := os.MkdirAll(filepath.Dir(c.config), 0o755); err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(map[string]string{"email": email, "data_dir": c.dataDir, "server_url": s.serverURL})
	return c, os.WriteFile(c.config, cfg, 0o644)
}

// start runs the SyftBox client and waits until its first sync is done.
func (c *client) start() error {
	var err error
	name := filepath.Base(c.home)
	c.proc, err = start(c.bin, []string{"--config", c.config}, c.home, c.env(), filepath.Join(c.home, "client.log"))
	if err != nil {
		return err
	}
	// The client creates its datasite and uploads its root syft.pub.yaml on
	// its first sync; a later sync logs "full sync completed".
	err = waitFor(60*time.Second, name+"'s first sync", func() bool {
		return c.proc.exited() || c.proc.logHas("full sync completed")
	})
	if err == nil && c.proc.exited() {
		err = fmt.Errorf("%s's client exited: %v\n%s", name, c.proc.err, c.proc.tail())
	}
	return err
}

func (c *client) stop() { c.proc.stop() }

// env is the environment of a process running as this user: its HOME, so
// that syft-core, the sidecar and its clients all find its config.
func (c *client) env(extra ...string) []string {
	// The apps a SyftBox client runs inherit its environment, but their PATH
	// is the login shell's (the client runs run.sh with $SHELL -lc, and
	// /etc/profile may reset PATH): the example app's run.sh takes its
	// binaries from these instead.
	return cleanEnv(append([]string{
		"HOME=" + c.home,
		"SYFTBOX_CLIENT_CONFIG_PATH=" + c.config,
		"SYFT_SIDECAR_BIN=" + sidecarBin,
		"SYFT_APP_PYTHON=" + python,
	}, extra...)...)
}

func (c *client) datasite(owner string) string {
	return filepath.Join(c.dataDir, "datasites", owner)
}

func (s *stack) close() {
	s.bobSidecar.stop()
	for _, c := range []*client{s.alice, s.bob} {
		if c != nil {
			c.stop()
		}
	}
	s.server.stop()
	if s.s3 != nil {
		s.s3.Close()
	}
}

// repo paths: the sidecar's own binaries (make build) and the venv with
// syft-rpc (make .venv/.deps).
var (
	repoRoot   = mustAbs("../..")
	sidecarBin = envOr("SYFT_SIDECAR_BIN", filepath.Join(repoRoot, "bin", "syft-sidecar"))
	echoBin    = envOr("SYFT_ECHO_BIN", filepath.Join(repoRoot, "bin", "echo"))
	listenBin  = envOr("SYFT_LISTEN_BIN", filepath.Join(repoRoot, "bin", "listen"))
	python     = envOr("SYFTRPC_PYTHON", filepath.Join(repoRoot, ".venv", "bin", "python"))
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var world *stack

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	for _, p := range []string{sidecarBin, echoBin, listenBin, python} {
		if !isExecutable(p) {
			log.Printf("%s is missing: run `make build .venv/.deps` first", p)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "syftbox-world-")
	if err != nil {
		log.Print(err)
		return 1
	}
	start := time.Now()
	world, err = startStack(dir)
	if err != nil {
		log.Printf("start SyftBox: %v", err)
		return 1
	}
	log.Printf("SyftBox server, alice and bob up in %s (%s)", time.Since(start).Round(time.Millisecond), dir)
	code := m.Run()
	world.close()
	if code == 0 && os.Getenv("SYFTBOX_KEEP") == "" {
		os.RemoveAll(dir)
	} else {
		log.Printf("logs kept in %s", dir)
	}
	return code
}

// sidecar is bob's one sidecar, shared by every test as it is by every app
// of a datasite: started on first use with --config pointing at bob's
// SyftBox config, on its default address (a socket under the data dir).
func (s *stack) sidecar(t testing.TB) *proc {
	t.Helper()
	if s.bobSidecar != nil && !s.bobSidecar.exited() {
		return s.bobSidecar
	}
	c := s.bob
	p, err := start(sidecarBin, []string{"--config", c.config, "--metrics-listen", "", "--grace", "2s"}, c.home, c.env(),
		filepath.Join(c.home, "sidecar.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.bobSidecar = p
	MustWait(t, 20*time.Second, "bob's sidecar socket", func() bool {
		if p.exited() {
			t.Fatalf("sidecar exited: %v\n%s", p.err, p.tail())
		}
		return accepts(c.socket())
	})
	return p
}

func (c *client) socket() string { return filepath.Join(c.dataDir, ".syft-sidecar", "sidecar.sock") }

func accepts(sock string) bool {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// serve starts a handler for app as bob (a command that registers app
// with the sidecar) and waits until bob's client has uploaded the app's
// permission file, so that the server lets alice call it.
func (s *stack) serve(t testing.TB, app string, cmd ...string) *proc {
	t.Helper()
	s.sidecar(t)
	p := s.bob.run(t, cmd[0], cmd[1:]...)
	perm := filepath.Join(s.bob.datasite(bobEmail), "app_data", app, "rpc", "syft.pub.yaml")
	MustWait(t, 30*time.Second, app+" to register", func() bool {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", cmd[0], p.err, p.tail())
		}
		return fileExists(perm)
	})
	s.waitPermsOnServer(t, app)
	return p
}

// run starts a process as this user, stopped at the end of the test.
func (c *client) run(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p, err := start(name, args, c.home, c.env(), filepath.Join(c.home, fmt.Sprintf("%s-%d.log", filepath.Base(name), time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

func MustWait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := waitFor(timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

// callResult is one line of alice.py's output.
type callResult struct {
	ID         string  `json:"id"`
	Request    string  `json:"request"`
	Status     int     `json:"status"`
	BodyLen    int     `json:"body_len"`
	BodySHA    string  `json:"body_sha256"`
	SentSHA    string  `json:"sent_sha256"`
	Text       string  `json:"text"`
	Error      string  `json:"error"`
	Seconds    float64 `json:"seconds"`
	RawLogLine string  `json:"-"`
}

// call makes calls as alice with the real syft-rpc and returns their results.
func (s *stack) call(t testing.TB, url string, args ...string) []callResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{"alice.py", "--config", s.alice.config, "--url", url}, args...)...)
	cmd.Env = s.alice.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("alice.py: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	var res []callResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r callResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("alice.py printed %q: %v", sc.Text(), err)
		}
		r.RawLogLine = sc.Text()
		res = append(res, r)
	}
	if len(res) == 0 {
		t.Fatalf("alice.py printed nothing; stderr:\n%s", stderr.Bytes())
	}
	return res
}

// rpcURL is the syft:// URL of an endpoint of bob's app.
func rpcURL(app, endpoint string) string {
	return "syft://" + bobEmail + "/app_data/" + app + "/rpc/" + endpoint
}

// relResponse is a response's path as the SyftBox client logs it: relative
// to the datasites folder.
func relResponse(r callResult, dataDir string) (string, error) {
	rel, err := filepath.Rel(filepath.Join(dataDir, "datasites"), r.Request)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", errors.New("request outside the datasites: " + r.Request)
	}
	return strings.TrimSuffix(rel, ".request") + ".response", nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// waitPermsOnServer waits until bob's client has uploaded the permission
// file the sidecar wrote for app (the standard sync carries it).
func (s *stack) waitPermsOnServer(t testing.TB, app string) {
	t.Helper()
	rel := bobEmail + "/app_data/" + app + "/rpc/syft.pub.yaml"
	MustWait(t, 30*time.Second, rel+" uploaded by bob's client", func() bool {
		return s.bob.proc.logHas("type=Standard", "op=WriteRemote", "path="+rel)
	})
}

// mustPriority checks that bob's client heard a write event for r's
// response (what the sidecar's write guarantees) and sent it on its priority
// path (the websocket, at once) rather than leaving it to the standard sync.
// A standard sync that happens to run in the same instant can send the bytes
// first; the priority path then skips them as unchanged, which counts too.
func (s *stack) mustPriority(t testing.TB, r callResult) {
	t.Helper()
	rel, err := relResponse(r, s.alice.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(s.bob.dataDir, "datasites", rel)
	err = waitFor(10*time.Second, rel+" on bob's priority path", func() bool {
		return s.bob.proc.logHas("event=notify.Write", "path="+abs) &&
			(s.bob.proc.logHas("type=Priority", "op=WriteRemote", "path="+rel+" ") ||
				s.bob.proc.logHas("type=Priority", "op=Skipped", "contents unchanged", "path="+abs))
	})
	if err != nil {
		t.Fatalf("%v; bob's client logged for it:\n%s", err, s.bob.proc.linesWith(r.ID))
	}
}

// linesWith returns the log's lines that contain s.
func (p *proc) linesWith(s string) string {
	b, _ := os.ReadFile(p.log)
	var out strings.Builder
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, s) {
			out.WriteString(line)
		}
	}
	return out.String()
}

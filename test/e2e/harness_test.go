// Package e2e runs the real sidecar binary against real folders and real
// handlers connected over a unix socket.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

const (
	owner  = "bob@example.com"
	sender = "alice@example.com"
)

// bins holds the binaries built once for all tests.
var bins struct{ sidecar, echo string }

// buildFlags are passed to go build for the binaries under test.
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syft-sidecar-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.sidecar = filepath.Join(dir, "syft-sidecar")
	bins.echo = filepath.Join(dir, "echo")
	for _, b := range []struct{ out, pkg string }{
		{bins.sidecar, "../../cmd/syft-sidecar"},
		{bins.echo, "../../clients/go/examples/echo"},
	} {
		cmd := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", b.out, b.pkg)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's SyftBox data dir and sidecar.
type env struct {
	t       *testing.T
	dataDir string
	sock    string
	sidecar *proc
	flags   []string
}

// proc is a child process whose output is kept for failure messages.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func MustStart(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.out)
		}
	})
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// stop sends SIGTERM and waits for the exit, returning its code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// newEnv makes a data dir; the sidecar is started by start.
func newEnv(t *testing.T, flags ...string) *env {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep the dir short.
	dir, err := os.MkdirTemp("", "sb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &env{t: t, dataDir: dir, sock: filepath.Join(dir, "s.sock"), flags: flags}
}

func (e *env) addr() string { return "unix://" + e.sock }

// start runs the sidecar and waits until its socket accepts connections.
func (e *env) start() {
	e.t.Helper()
	args := append([]string{
		"--data-dir", e.dataDir, "--email", owner, "--listen", e.addr(),
		"--metrics-listen", "", "--log-level", "debug",
	}, e.flags...)
	e.sidecar = MustStart(e.t, bins.sidecar, args...)
	waitFor(e.t, 10*time.Second, "sidecar socket", func() bool {
		c, err := net.Dial("unix", e.sock)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// echo starts the example echo handler for app.
func (e *env) echo(app string) *proc {
	e.t.Helper()
	return MustStart(e.t, bins.echo, "--sidecar", e.addr(), "--app", app)
}

// rpcDir is an app's rpc folder.
func (e *env) rpcDir(app string) string {
	return filepath.Join(e.dataDir, "datasites", owner, "app_data", app, "rpc")
}

// waitRegistered waits until the endpoint folder's .syftkeep exists, which
// the sidecar writes when a handler declares the endpoint.
func (e *env) waitRegistered(app, endpoint string) {
	e.t.Helper()
	keep := filepath.Join(e.rpcDir(app), endpoint, ".syftkeep")
	waitFor(e.t, 10*time.Second, keep, func() bool { _, err := os.Stat(keep); return err == nil })
}

// request is a request file to drop.
type request struct {
	app, endpoint, sender string
	folder                string // sender folder; "" for sender, "-" for the legacy layout
	body                  []byte
	expires               time.Time
	url                   string // default: the endpoint's URL
	method                string
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// encode returns the id and the file's bytes, as syft-rpc writes them.
func (r request) encode() (string, []byte) {
	id := newID()
	if r.sender == "" {
		r.sender = sender
	}
	if r.url == "" {
		r.url = "syft://" + owner + "/app_data/" + r.app + "/rpc" + r.endpoint
	}
	if r.expires.IsZero() {
		r.expires = time.Now().Add(15 * time.Minute)
	}
	if r.method == "" {
		r.method = "POST"
	}
	req := syftrpc.Request{
		ID: id, Sender: r.sender, URL: r.url, Body: r.body, Headers: map[string]string{},
		Created: time.Now().UTC(), Expires: r.expires.UTC(), Method: r.method,
	}
	return id, req.AppendJSON(nil)
}

// dir is the folder the request goes into.
func (e *env) dir(r request) string {
	folder := r.folder
	switch folder {
	case "":
		folder = sender
		if r.sender != "" {
			folder = r.sender
		}
	case "-":
		folder = ""
	}
	return filepath.Join(e.rpcDir(r.app), r.endpoint, folder)
}

// drop writes a request the way the SyftBox client delivers one: to
// {data_dir}/.syft-tmp, then renamed into place. It returns the
// request's path.
func (e *env) drop(r request) (string, string) {
	e.t.Helper()
	id, data := r.encode()
	return id, e.dropBytes(r, id, data)
}

func (e *env) dropBytes(r request, id string, data []byte) string {
	e.t.Helper()
	dir := e.dir(r)
	tmpDir := filepath.Join(e.dataDir, ".syft-tmp")
	MustMkdir(e.t, dir)
	MustMkdir(e.t, tmpDir)
	tmp := filepath.Join(tmpDir, id+".syft.tmp.1")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(dir, id+".request")
	if err := os.Rename(tmp, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func MustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func responsePath(reqPath string) string {
	return strings.TrimSuffix(reqPath, ".request") + ".response"
}

// waitResponse waits for the response of the request at reqPath and parses it.
func waitResponse(t *testing.T, reqPath string, within time.Duration) *syftrpc.Response {
	t.Helper()
	p := responsePath(reqPath)
	var data []byte
	waitFor(t, within, "response "+filepath.Base(p), func() bool {
		var err error
		data, err = os.ReadFile(p)
		return err == nil
	})
	resp, err := syftrpc.ParseResponse(data)
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", p, err, data)
	}
	return resp
}

// noResponse checks that no response appears for reqPath while the sidecar
// answers a later request: the sidecar works through files in order of
// arrival, so once the marker is answered the first had its chance.
func (e *env) noResponse(reqPath string, marker request) {
	e.t.Helper()
	_, mp := e.drop(marker)
	waitResponse(e.t, mp, 10*time.Second)
	if _, err := os.Stat(responsePath(reqPath)); err == nil {
		e.t.Fatalf("unexpected response for %s", reqPath)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantResponse(t *testing.T, resp *syftrpc.Response, code int, bodyContains string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, code, resp.Body)
	}
	if !strings.Contains(string(resp.Body), bodyContains) {
		t.Fatalf("body = %q, want it to contain %q", resp.Body, bodyContains)
	}
	if resp.Sender != owner {
		t.Fatalf("sender = %q, want %q", resp.Sender, owner)
	}
}

// ctx returns a context ended with the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

var _ = io.Discard

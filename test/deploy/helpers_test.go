// Package deploy runs what deploy/ ships for real: the container image under
// podman, and a real Prometheus scraping a real sidecar. The manifests
// (compose, Kubernetes) are checked by the module in manifests/, which keeps
// their parsers out of this module's dependencies.
package deploy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// The datasite served in every test and the peer that calls it.
const (
	owner  = "bob@example.com"
	sender = "alice@example.com"
)

// startTimeout bounds waits for a process or container to come up; generous,
// it only matters when something is broken.
const startTimeout = 30 * time.Second

// mustTool returns the path of a command the test needs. Without it the test
// is skipped, except in CI (CI set), where .ci/run installs it and its absence
// is a failure.
func mustTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found; .ci/run installs it", name)
		}
		t.Skipf("%s not found: install it to run this test (CI does)", name)
	}
	return p
}

// repoRoot is the module's root, two folders up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// mustDataDir makes an empty SyftBox data dir, removed when the test ends.
// Its path is short (unlike t.TempDir) because the sidecar's socket lives in
// it and socket paths are limited to 108 bytes.
func mustDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// endpointDir is the folder of app's /echo endpoint in dataDir.
func endpointDir(dataDir, app string) string {
	return filepath.Join(dataDir, "datasites", owner, "app_data", app, "rpc", "echo")
}

// mustRegistered waits until the echo endpoint of app has its .syftkeep,
// which the sidecar writes when a handler declares the endpoint.
func mustRegistered(t *testing.T, dataDir, app string) {
	t.Helper()
	keep := filepath.Join(endpointDir(dataDir, app), ".syftkeep")
	waitFor(t, startTimeout, "handler for "+app+" registered", func() bool {
		_, err := os.Stat(keep)
		return err == nil
	})
}

// mustDrop writes a request to app's /echo from sender the way the SyftBox
// client delivers one: to {data_dir}/.syft-tmp, then renamed into place.
// Folders it makes are given to uid (the sidecar's user; -1 leaves them as
// they are), so the sidecar can write the response beside the request. It
// returns the path the response will have.
func mustDrop(t *testing.T, dataDir, app string, body []byte, uid int) string {
	t.Helper()
	id := newID()
	now := time.Now().UTC()
	req := syftrpc.Request{
		ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/" + app + "/rpc/echo",
		Body: body, Headers: map[string]string{}, Created: now, Expires: now.Add(15 * time.Minute),
		Method: "POST",
	}
	tmpDir := filepath.Join(dataDir, ".syft-tmp")
	dir := filepath.Join(endpointDir(dataDir, app), sender)
	for _, d := range []string{tmpDir, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(d, uid, uid); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(tmpDir, id+".syft.tmp.1")
	if err := os.WriteFile(tmp, req.AppendJSON(nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, id+syftrpc.RequestExt)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, id+syftrpc.ResponseExt)
}

// mustEcho waits for the response at path and checks that it is the echo
// handler's: 200, the body sent, from the owner.
func mustEcho(t *testing.T, path string, body []byte) {
	t.Helper()
	var data []byte
	waitFor(t, startTimeout, "response "+filepath.Base(path), func() bool {
		var err error
		data, err = os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	})
	resp, err := syftrpc.ParseResponse(data)
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", path, err, data)
	}
	if resp.StatusCode != 200 || !bytes.Equal(resp.Body, body) || resp.Sender != owner {
		t.Fatalf("response = %d %q from %s, want 200 %q from %s", resp.StatusCode, resp.Body, resp.Sender, body, owner)
	}
}

// mustDial waits until the unix socket at path accepts connections.
func mustDial(t *testing.T, path string) {
	t.Helper()
	waitFor(t, startTimeout, "socket "+path, func() bool {
		c, err := net.Dial("unix", path)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// waitFor polls cond every 50ms until it holds, failing the test after
// within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mustRun runs a command and returns its stdout, failing the test with its
// output if it fails.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// runOutput runs a command and returns its combined output.
func runOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// runQuiet runs a command for its exit status alone.
func runQuiet(name string, args ...string) error {
	_, err := runOutput(name, args...)
	return err
}

// proc is a child process whose output is logged if the test fails.
type proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
}

// mustStart starts the command and kills it when the test ends.
func mustStart(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.out.String())
		}
	})
	return p
}

// syncBuffer is a bytes.Buffer that a process's output copiers and the test
// may use at once.
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

// newID returns a random UUIDv4, the form syft-rpc gives request ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

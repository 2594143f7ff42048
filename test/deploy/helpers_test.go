// Package deploy runs what deploy/ ships for real: the container image under
// podman, and a real Prometheus scraping a real sidecar. The manifests
// (compose, Kubernetes) are checked by the module in manifests/, which keeps
// their parsers out of this module's dependencies.
package deploy

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// The datasite and the peer of every test (see sidecartest.Owner).
const owner, sender = sidecartest.Owner, sidecartest.Sender

// startTimeout bounds waits for a container or Prometheus to come up:
// seconds of slack over what takes less than one, so only something broken
// reaches it.
const startTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	defer sidecartest.RemoveBinaries()
	m.Run()
}

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

// mustEcho drops a request with body to app's /echo from sender and checks
// the echo handler's response: 200, the body sent, from the owner. A uid
// other than -1 is given the sender folder before the request goes in, so
// that a sidecar running as that user can write the response beside it.
func mustEcho(t *testing.T, d sidecartest.DataDir, app string, body []byte, uid int) {
	t.Helper()
	dir := d.RequestDir(app, "/echo", sender)
	if uid != -1 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	id := sidecartest.NewID()
	now := time.Now().UTC()
	req := syftrpc.Request{
		ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/" + app + "/rpc/echo",
		Body: body, Headers: map[string]string{}, Created: now, Expires: now.Add(15 * time.Minute),
		Method: "POST",
	}
	p := d.MustDrop(t, dir, id, req.AppendJSON(nil))
	resp := sidecartest.MustResponse(t, p, startTimeout)
	if resp.StatusCode != 200 || !bytes.Equal(resp.Body, body) || resp.Sender != owner {
		t.Fatalf("response = %d %q from %s, want 200 %q from %s", resp.StatusCode, resp.Body, resp.Sender, body, owner)
	}
}

// mustDial waits until the unix socket at path accepts connections.
func mustDial(t *testing.T, path string) {
	t.Helper()
	sidecartest.WaitFor(t, startTimeout, "socket "+path, func() bool {
		c, err := net.Dial("unix", path)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
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

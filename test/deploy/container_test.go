package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// uid is the numeric user the images run as (deploy/docker/Dockerfile).
const uid = 65532

// TestContainer builds the images with make image, runs the sidecar image
// on a data dir shared with this machine, and answers requests through the
// echo handler twice: built here and dialing the socket on the shared
// folder, then as the echo image beside it (as compose.yaml runs them). The
// health check must report healthy, and podman stop must drain and exit 0.
func TestContainer(t *testing.T) {
	podman := mustTool(t, "podman")
	mustTool(t, "make")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root: rootful podman, and a data dir given to the container's uid")
		}
		t.Skip("needs root: rootful podman, and a data dir given to the container's uid")
	}

	// Unique names, so that a run never touches another's images.
	suffix := sidecartest.NewID()[:8]
	image := "localhost/syft-sidecar:test-" + suffix
	echoImage := "localhost/syft-sidecar-echo:test-" + suffix
	context := t.TempDir()
	t.Cleanup(func() { runQuiet(podman, "rmi", "-f", image, echoImage) })
	mustRun(t, "make", "-C", repoRoot(t), "-s", "image", "PODMAN="+podman,
		"IMAGE="+image, "ECHO_IMAGE="+echoImage, "IMAGE_CONTEXT="+context)

	d := sidecartest.MustDataDir(t)
	data := d.Path
	if err := os.Chown(data, uid, uid); err != nil {
		t.Fatal(err)
	}
	// No network: gRPC goes through the socket on the volume, and the
	// health check dials the container's own loopback.
	name := "syft-sidecar-test-" + suffix
	sidecar := mustContainer(t, podman, name, "--network", "none",
		"-e", "SYFTBOX_EMAIL="+owner, "-v", data+":/data", image, "--log-level", "debug")

	sock := filepath.Join(data, ".syft-sidecar", "sidecar.sock")
	mustDial(t, sock)

	t.Run("host handler", func(t *testing.T) {
		sidecartest.MustStart(t, exec.Command(filepath.Join(context, "echo"), "--sidecar", "unix://"+sock, "--app", "echo"))
		d.MustRegistered(t, "echo", "/echo")
		mustEcho(t, d, "echo", []byte(`{"hello":"from the host"}`), uid)
	})

	t.Run("app container", func(t *testing.T) {
		mustContainer(t, podman, name+"-app", "--network", "none", "-v", data+":/data", echoImage, "--app", "echoapp")
		sidecartest.WaitFor(t, startTimeout, "echo container registered", func() bool {
			_, err := os.Stat(filepath.Join(d.EndpointDir("echoapp", "/echo"), ".syftkeep"))
			return err == nil
		})
		mustEcho(t, d, "echoapp", []byte(`{"hello":"from the app container"}`), uid)
	})

	t.Run("healthy", func(t *testing.T) {
		// Podman runs HEALTHCHECK on a systemd timer, which this machine may
		// not have; healthcheck run is the same probe, on demand, and records
		// its result in the container's state.
		sidecartest.WaitFor(t, startTimeout, "passing health check", func() bool {
			return runQuiet(podman, "healthcheck", "run", sidecar) == nil
		})
		if got := strings.TrimSpace(mustRun(t, podman, "inspect", "--format", "{{.State.Health.Status}}", sidecar)); got != "healthy" {
			t.Fatalf("health status = %q, want healthy", got)
		}
	})

	t.Run("stop drains", func(t *testing.T) {
		mustRun(t, podman, "stop", "--time", "20", sidecar)
		if got := strings.TrimSpace(mustRun(t, podman, "inspect", "--format", "{{.State.ExitCode}}", sidecar)); got != "0" {
			t.Fatalf("exit code after SIGTERM = %s, want 0", got)
		}
	})
}

// mustContainer runs a detached container and removes it when the test
// ends, logging its output first if the test failed. It returns its name.
func mustContainer(t *testing.T, podman, name string, args ...string) string {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := runOutput(podman, "logs", name)
			t.Logf("logs of container %s:\n%s", name, out)
		}
		runQuiet(podman, "rm", "--force", "--time", "0", name)
	})
	mustRun(t, podman, append([]string{"run", "--detach", "--name", name}, args...)...)
	return name
}

package syftbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var exampleApp = filepath.Join(repoRoot, "deploy", "syftbox-app")

// installApp copies the example app into bob's apps/ folder under name,
// as a user installing it would; bob's client finds it on its next scan
// and runs its run.sh.
func installApp(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(world.bob.dataDir, "apps", name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-R", exampleApp, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll(dst) })
	return dst
}

func sidecarLog() string {
	return filepath.Join(world.bob.home, ".syftbox", "logs", "syft-sidecar.log")
}

// callApp waits for the app to register and its permission file to reach
// the server, then alice calls it.
func callApp(t *testing.T, name string) {
	t.Helper()
	perm := filepath.Join(world.bob.datasite(bobEmail), "app_data", name, "rpc", "syft.pub.yaml")
	MustWait(t, 60*time.Second, name+" run by bob's client to register", func() bool { return fileExists(perm) })
	world.waitPermsOnServer(t, name)
	r := world.call(t, rpcURL(name, "echo"), "--body", "from alice")[0]
	if r.Status != 200 || r.Text != "from alice" {
		t.Fatalf("call: %s", r.RawLogLine)
	}
	world.mustPriority(t, r)
}

// With a sidecar already serving bob's datasite, the app's run.sh uses it:
// the sidecar it starts finds the socket taken and exits.
func TestAppUsesTheRunningSidecar(t *testing.T) {
	world.sidecar(t)
	installApp(t, "appecho")
	callApp(t, "appecho")
	MustWait(t, 10*time.Second, "the second sidecar to give way", func() bool {
		b, _ := os.ReadFile(sidecarLog())
		return strings.Contains(string(b), "another sidecar is serving it")
	})
}

// With none serving, run.sh starts the datasite's sidecar, which outlives
// the app that started it (its own session).
func TestAppStartsTheSidecar(t *testing.T) {
	world.bobSidecar.stop()
	MustWait(t, 10*time.Second, "bob's sidecar to stop", func() bool { return !accepts(world.bob.socket()) })
	dir := installApp(t, "appecho2")
	t.Cleanup(func() {
		for _, pid := range sidecarPIDs(t) {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		MustWait(t, 15*time.Second, "the app's sidecar to stop", func() bool { return len(sidecarPIDs(t)) == 0 })
	})
	callApp(t, "appecho2")
	if n := len(sidecarPIDs(t)); n != 1 {
		t.Fatalf("%d sidecars serve bob's datasite, want 1", n)
	}
	// Uninstalled, the app is stopped (its process group killed); the
	// datasite's sidecar stays for the other apps.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	MustWait(t, 30*time.Second, "bob's client to stop appecho2", func() bool {
		return world.bob.proc.logHas("app removed", "appecho2")
	})
	if !accepts(world.bob.socket()) || len(sidecarPIDs(t)) != 1 {
		t.Fatal("the sidecar went with the app that started it")
	}
}

// sidecarPIDs lists the sidecars run with bob's config: the ones run.sh
// started, found by their command line.
func sidecarPIDs(t *testing.T) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "syft-sidecar" && args[1] == "--config" && args[2] == world.bob.config {
			if st, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat")); err == nil && !isZombie(string(st)) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

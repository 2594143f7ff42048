package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// When the kernel's event queue overflows (the sidecar stopped while 17,000
// requests arrive, past inotify's default 16,384), a rescan finds them all.
func TestOverflowRescan(t *testing.T) {
	if max, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err != nil || strings.TrimSpace(string(max)) != "16384" {
		t.Skipf("inotify max_queued_events is %q, not the 16384 this test overflows", max)
	}
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr)
	e.start()
	e.echo("echo")
	// An answered request shows the watch is in place; .syftkeep alone
	// comes a moment before it.
	_, first := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("first")})
	sidecartest.MustResponse(t, first, 10*time.Second)
	e.sidecar.Signal(t, syscall.SIGSTOP)
	paths := e.burst("echo", 17000)
	e.sidecar.Signal(t, syscall.SIGCONT)
	allAnswered(t, paths, 120*time.Second)
	if v := metric(t, maddr, "syft_sidecar_watcher_overflows_total"); v == "" || v == "0" {
		t.Fatalf("watcher_overflows_total = %q: the queue did not overflow", v)
	}
}

package bridge

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/prometheus/client_golang/prometheus"
)

// An app's first cleanup waits for intake to take what its scan found,
// then, until firstCleanupWait, for the requests waiting for a handler to
// be handed out; stepped by hand on a real rpc folder.
func TestCleanerFirstRunWaitsForBacklog(t *testing.T) {
	root, err := safefs.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	a := &app{name: "app", rpcDir: "/rpc", root: root}
	a.cleanup.expiry, a.cleanup.interval = time.Hour, time.Hour
	a.cleanup.unscannedUntil = time.Now().Add(firstCleanupWait)
	var apps sync.Map
	apps.Store(a.name, a)
	backlog := true
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := newCleaner(&apps, func(string) bool { return false }, func() bool { return backlog }, func() {}, metrics.New(prometheus.NewRegistry()), logger)
	ctx := context.Background()
	ran := func() bool { return !a.cleanup.last.LastCleanup.IsZero() }

	if next := c.step(ctx); ran() || next < firstCleanupWait-time.Second {
		t.Fatalf("before the scan: ran %v, next look in %s (want at the bound)", ran(), next)
	}
	c.scanned(a)
	if next := c.step(ctx); ran() || next > backlogPoll {
		t.Fatalf("scanned, backlog: ran %v, next look in %s (want within %s)", ran(), next, backlogPoll)
	}
	backlog = false
	if next := c.step(ctx); !ran() || next < a.cleanup.interval-time.Second {
		t.Fatalf("scanned, no backlog: ran %v, next look in %s (want the interval)", ran(), next)
	}
	// Past the bound, a backlog holds nothing back.
	a.cleanup.next = time.Time{}
	a.cleanup.last.LastCleanup = time.Time{}
	a.cleanup.unscannedUntil = time.Now()
	backlog = true
	if c.step(ctx); !ran() {
		t.Fatal("past the bound: the backlog held the cleanup back")
	}
}

// backlogged: a request queued for a handler, not one in flight.
func TestDispatcherBacklogged(t *testing.T) {
	r := newRig(t, nil)
	h, _ := r.connect(1, "/echo")
	r.submit("a", "a", "/echo", time.Hour)
	if r.d.backlogged() {
		t.Fatal("backlogged with one request, in flight")
	}
	r.submit("b", "b", "/echo", time.Hour)
	if !r.d.backlogged() {
		t.Fatal("not backlogged with a request waiting")
	}
	r.reply(h, "a", 1, 200)
	if r.d.backlogged() {
		t.Fatal("backlogged once the waiting request went out")
	}
}

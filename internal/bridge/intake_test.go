package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/watcher"
)

// drained waits for the events queued when it is asked, and no longer
// than that: what the first cleanup of an app waits on.
func TestIntakeDrained(t *testing.T) {
	events := make(chan watcher.Event, 8)
	// Paths outside every app: intake looks at each and leaves it.
	in := newIntake(&Bridge{appDataPrefix: "/nowhere/"}, events)
	if !closed(in.drained()) {
		t.Fatal("not drained with nothing queued")
	}
	for range 3 {
		events <- watcher.Event{Path: "/elsewhere/x.request", Op: watcher.Found}
	}
	d := in.drained()
	if closed(d) {
		t.Fatal("drained with three events queued and intake not running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go in.run(ctx)
	select {
	case <-d:
	case <-time.After(10 * time.Second):
		t.Fatal("not drained 10 s after intake started on three events")
	}
	if len(events) != 0 || in.nwaiters.Load() != 0 {
		t.Fatalf("drained with %d events queued, %d waiters left", len(events), in.nwaiters.Load())
	}
}

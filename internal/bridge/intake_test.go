package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/watcher"
)

// drained waits for the events put when it is asked, and no longer than
// that: what the first cleanup of an app waits on.
func TestIntakeDrained(t *testing.T) {
	// Paths outside every app: intake looks at each and leaves it.
	in := newIntakeShards(&Bridge{appDataPrefix: "/nowhere/"}, 2)
	if !closed(in.drained()) {
		t.Fatal("not drained with nothing put")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// More follow each: queued for the workers, which are not running.
	for range 3 {
		if !in.put(ctx, watcher.Event{Path: "/elsewhere/x.request", Op: watcher.Found}, true) {
			t.Fatal("put refused")
		}
	}
	d := in.drained()
	if closed(d) {
		t.Fatal("drained with three events queued and no worker running")
	}
	go in.run(ctx)
	select {
	case <-d:
	case <-time.After(10 * time.Second):
		t.Fatal("not drained 10 s after the workers started on three events")
	}
	if !in.idle() || in.nwaiters.Load() != 0 {
		t.Fatalf("drained with events queued (idle %v), %d waiters left", in.idle(), in.nwaiters.Load())
	}
	// An event alone, its shard idle, is handled by the caller at once.
	in.put(ctx, watcher.Event{Path: "/elsewhere/y.request", Op: watcher.Found}, false)
	if !in.idle() {
		t.Fatal("an event alone for an idle shard was queued, not handled")
	}
	// A put that cannot queue gives up when its context ends.
	stopped, stop := context.WithCancel(context.Background())
	stop()
	full := newIntakeShards(&Bridge{appDataPrefix: "/nowhere/"}, 2)
	s := full.shard("/elsewhere/x.request")
	for range shardQueue {
		full.put(ctx, watcher.Event{Path: "/elsewhere/x.request"}, true)
	}
	if full.put(stopped, watcher.Event{Path: "/elsewhere/x.request"}, true) {
		t.Fatal("put into a full shard returned true with its context ended")
	}
	if int(s.queued.Load()) != shardQueue {
		t.Fatalf("queued %d after the refused put, want %d", s.queued.Load(), shardQueue)
	}
}

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

// While more events wait, a shard submits the requests it parsed together,
// maxSubmit at most, and the rest once none waits; an event about a file
// parsed and not yet submitted submits it first, so that the file is read
// and delivered once.
func TestIntakeSubmitsInBatches(t *testing.T) {
	br, _, f, reqDir := echoBridge(t)
	paths := writeRequests(t, reqDir, maxSubmit+3)
	s := newIntakeShards(br, 1).shards[0]
	ctx := context.Background()
	s.queued.Store(100) // as if more events waited
	for i, p := range paths[:maxSubmit] {
		s.take(ctx, watcher.Event{Path: p, Op: watcher.Create})
		if want := 0; i < maxSubmit-1 && len(f.got) != want {
			t.Fatalf("%d delivered after %d parsed with more waiting, want %d", len(f.got), i+1, want)
		}
	}
	if len(f.got) != maxSubmit {
		t.Fatalf("%d delivered after %d parsed, want them all", len(f.got), maxSubmit)
	}
	s.take(ctx, watcher.Event{Path: paths[maxSubmit], Op: watcher.Create})
	s.take(ctx, watcher.Event{Path: paths[maxSubmit+1], Op: watcher.Create})
	if len(f.got) != maxSubmit || br.d.holds(paths[maxSubmit]) {
		t.Fatalf("%d delivered; want %d, the last two parsed and not yet held", len(f.got), maxSubmit)
	}
	// The file written again: the event submits what was parsed first, then
	// finds the file held and leaves it.
	s.take(ctx, watcher.Event{Path: paths[maxSubmit], Op: watcher.Modify})
	if len(f.got) != maxSubmit+2 || !br.d.holds(paths[maxSubmit+1]) {
		t.Fatalf("%d delivered after an event about a parsed file, want %d", len(f.got), maxSubmit+2)
	}
	s.queued.Store(1) // this event alone
	s.take(ctx, watcher.Event{Path: paths[maxSubmit+2], Op: watcher.Create})
	if len(f.got) != maxSubmit+3 || len(s.parsed) != 0 {
		t.Fatalf("%d delivered, %d parsed left, after the last event; want %d and none", len(f.got), len(s.parsed), maxSubmit+3)
	}
	seen := map[string]bool{}
	for _, dl := range f.got {
		if seen[dl.req.ID] {
			t.Fatalf("%s delivered twice", dl.req.ID)
		}
		seen[dl.req.ID] = true
	}
}

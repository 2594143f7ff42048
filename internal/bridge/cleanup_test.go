package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/internal/watcher"
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

// A backlog's requests, answered, are not read again by the app's first
// cleanup: the dispatcher hands it the created time intake parsed. A
// request answered before this sidecar started (its response on disk, so
// intake left it unread) is read. Real files, intake, dispatcher and
// writer; the handler is the dispatcher's side of a stream.
func TestFirstCleanupReadsNoAnsweredBacklog(t *testing.T) {
	const owner, sender, n = echoOwner, echoSender, 20
	br, a, reqDir := echoApp(t)
	var events []watcher.Event
	for i := range n + 1 {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		req := syftrpc.Request{
			ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/echo/rpc/echo",
			Headers: map[string]string{}, Created: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Method: "POST",
		}
		p := filepath.Join(reqDir, id+".request")
		if err := os.WriteFile(p, req.AppendJSON(nil), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == n {
			// Answered before this sidecar started.
			if err := os.WriteFile(filepath.Join(reqDir, id+".response"), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		events = append(events, watcher.Event{Path: p, Op: watcher.Found})
	}
	// The registration's scan finds them before a handler serves the
	// endpoint: they wait.
	in := newIntakeShards(br, 1).shards[0]
	ctx := context.Background()
	for _, ev := range events {
		in.take(ctx, ev)
	}
	if !br.d.backlogged() {
		t.Fatal("no backlog")
	}
	f := &fakeStream{}
	h := newHandler(1, f, MaxInFlightLimit)
	if _, _, err := br.d.join(h, a, []declared{{path: "/echo", deadline: time.Minute}}, n, func(int) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != n {
		t.Fatalf("%d delivered, want %d", len(f.got), n)
	}
	var (
		buf      []byte
		err      error
		together []string // released in one batch, as a writer does under load
	)
	for i, dl := range f.got {
		for _, j := range br.d.reply(h, reply{id: dl.req.ID, attempt: dl.attempt}) {
			if buf, err = br.w.writeResponse(j, buf[:0]); err != nil {
				t.Fatal(err)
			}
			if i < n/2 {
				br.w.done(j.abs)
			} else {
				together = append(together, j.abs)
			}
		}
	}
	br.w.done(together...)
	if br.d.backlogged() || br.d.inFlight() != 0 {
		t.Fatal("backlog not served")
	}
	st := br.cleaner.run(a, 0)
	if st.Read != 1 || st.RequestsDeleted != 0 || st.Errors != 0 {
		t.Fatalf("first cleanup: %+v; want only the request answered before this sidecar read", st)
	}
	if st := br.cleaner.run(a, 0); st.Read != 0 {
		t.Fatalf("second cleanup read %d", st.Read)
	}
}

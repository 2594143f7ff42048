package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/internal/watcher"
	"github.com/prometheus/client_golang/prometheus"
)

// A reply is written on the receiving goroutine only one request at a
// time: while another request is in flight its response goes to the
// writers, so that the receiver goes back to receiving. Either way the
// response is written whole, once, and never over a file.
func TestWriteReplyHereOnlyWhenAlone(t *testing.T) {
	const owner, sender = "bob@example.com", "alice@example.com"
	dir := t.TempDir()
	cfg := NewConfig(owner, filepath.Join(dir, "datasites"))
	br := New(cfg, metrics.New(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := mkdirAll(filepath.Join(cfg.DatasitesDir, owner)); err != nil {
		t.Fatal(err)
	}
	root, err := safefs.OpenRoot(filepath.Join(cfg.DatasitesDir, owner))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	br.ownerRoot = root
	a, _, err := br.openApp("echo")
	if err != nil {
		t.Fatal(err)
	}
	defer a.root.Close()
	if err := prepareEndpoint(a.root, "/echo"); err != nil {
		t.Fatal(err)
	}
	f := &fakeStream{}
	h := newHandler(1, f, MaxInFlightLimit)
	if _, _, err := br.d.join(h, a, []declared{{path: "/echo", deadline: time.Minute}}, 0, func(int) bool { return true }); err != nil {
		t.Fatal(err)
	}
	// No writer runs: a response handed to them stays queued, one written
	// here is on disk when writeReply returns.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	br.w.start(ctx, &wg, 0)
	defer func() { cancel(); wg.Wait() }()

	reqDir := filepath.Join(a.rpcDir, "echo", sender)
	if err := os.MkdirAll(reqDir, 0o755); err != nil {
		t.Fatal(err)
	}
	in := newIntakeShards(br, nil, 1).shards[0]
	var paths []string
	for i := range 2 {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		req := syftrpc.Request{
			ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/echo/rpc/echo",
			Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Headers: map[string]string{},
			Created: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Method: "POST",
		}
		p := filepath.Join(reqDir, id+".request")
		if err := os.WriteFile(p, req.AppendJSON(nil), 0o644); err != nil {
			t.Fatal(err)
		}
		in.handle(ctx, watcher.Event{Path: p, Op: watcher.Create})
		paths = append(paths, p)
	}
	if len(f.got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(f.got))
	}
	s := &stream{svc: &Service{b: br}, h: h}
	response := func(i int) string { return strings.TrimSuffix(paths[i], ".request") + ".response" }
	replyTo := func(i int) {
		dl := f.got[i]
		s.writeReply(br.d.reply(h, reply{id: dl.req.ID, attempt: dl.attempt, body: dl.req.Body}))
	}

	replyTo(0) // the other request is still in flight
	if _, err := os.Lstat(response(0)); !os.IsNotExist(err) {
		t.Fatalf("response 0 written by the receiver while another request was in flight (%v)", err)
	}
	if n := len(br.w.jobs); n != 1 {
		t.Fatalf("%d responses queued for the writers, want 1", n)
	}
	j := <-br.w.jobs
	if _, err := br.w.writeResponse(j, nil); err != nil {
		t.Fatal(err)
	}
	br.w.done(j.abs)

	// The response is there already: the one written here must not
	// replace it, and the request is released all the same.
	first, err := os.ReadFile(response(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(response(1), first, 0o644); err != nil {
		t.Fatal(err)
	}
	replyTo(1) // alone now: written here
	if n := len(br.w.jobs); n != 0 {
		t.Fatalf("%d responses queued, want the lone one written here", n)
	}
	got, err := os.ReadFile(response(1))
	if err != nil || string(got) != string(first) {
		t.Fatalf("response 1 replaced or unreadable: %q, %v", got, err)
	}
	if n := br.d.inFlight(); n != 0 {
		t.Fatalf("%d still in flight", n)
	}
	select {
	case <-br.d.allWritten():
	default:
		t.Fatal("a request not released after its response was written")
	}
}

// writeHere does nothing and says so while another caller writes.
func TestWriteHereOneAtATime(t *testing.T) {
	w := newWriter("bob@example.com", metrics.New(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) {
		t.Error("a job reported done that was not written")
	})
	w.inline.Lock()
	if w.writeHere(writeJob{}) {
		t.Fatal("writeHere wrote while another caller held it")
	}
	w.inline.Unlock()
	w.busy.Add(1)
	if w.idle() {
		t.Fatal("idle with a writer busy")
	}
	w.busy.Add(-1)
	w.jobs <- writeJob{}
	if w.idle() {
		t.Fatal("idle with a job queued")
	}
}

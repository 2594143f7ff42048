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
	br, h, f, reqDir := echoBridge(t)
	// No writer runs: a response handed to them stays queued, one written
	// here is on disk when writeReply returns.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	br.w.start(ctx, &wg, 0)
	defer func() { cancel(); wg.Wait() }()

	in := newIntakeShards(br, 1).shards[0]
	paths := writeRequests(t, reqDir, 2)
	for _, p := range paths {
		in.take(ctx, watcher.Event{Path: p, Op: watcher.Create})
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

// A writer that finds more jobs waiting releases their requests together,
// in batches of at most maxRelease, and the last batch as soon as no job
// waits: every request is released once, after its response is on disk.
func TestWriterReleasesInBatches(t *testing.T) {
	br, h, f, reqDir := echoBridge(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	const n = maxRelease + maxRelease/2
	in := newIntakeShards(br, 1).shards[0]
	paths := writeRequests(t, reqDir, n)
	for _, p := range paths {
		in.take(ctx, watcher.Event{Path: p, Op: watcher.Create})
	}
	rs := make([]reply, len(f.got))
	for i, dl := range f.got {
		rs[i] = reply{id: dl.req.ID, attempt: dl.attempt, body: dl.req.Body}
	}
	jobs := br.d.reply(h, rs...)
	if len(jobs) != n {
		t.Fatalf("%d responses decided, want %d", len(jobs), n)
	}
	for _, j := range jobs {
		br.w.jobs <- j
	}
	var (
		mu       sync.Mutex
		batches  []int
		released = map[string]int{}
	)
	release := br.w.done
	br.w.done = func(abs ...string) {
		mu.Lock()
		batches = append(batches, len(abs))
		for _, a := range abs {
			if _, err := os.Lstat(strings.TrimSuffix(a, ".request") + ".response"); err != nil {
				t.Errorf("%s released before its response was on disk: %v", a, err)
			}
			released[a]++
		}
		mu.Unlock()
		release(abs...)
	}
	br.w.start(ctx, &wg, 1)
	select {
	case <-br.d.allWritten():
	case <-time.After(10 * time.Second):
		t.Fatal("not every request released within 10 s")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{maxRelease, n - maxRelease}; fmt.Sprint(batches) != fmt.Sprint(want) {
		t.Errorf("released in batches of %v, want %v", batches, want)
	}
	for _, p := range paths {
		if released[p] != 1 {
			t.Errorf("%s released %d times, want once", p, released[p])
		}
	}
}

// writeHere does nothing and says so while another caller writes.
func TestWriteHereOneAtATime(t *testing.T) {
	w := newWriter("bob@example.com", metrics.New(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), func(...string) {
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

// echoBridge is a Bridge with the app echo, its endpoint /echo joined by
// one handler whose deliveries f records, and the folder of the sender's
// requests, on real files in a temporary folder; nothing runs.
func echoBridge(tb testing.TB) (br *Bridge, h *handler, f *fakeStream, reqDir string) {
	tb.Helper()
	br, a, reqDir := echoApp(tb)
	f = &fakeStream{}
	h = newHandler(1, f, MaxInFlightLimit)
	if _, _, err := br.d.join(h, a, []declared{{path: "/echo", deadline: time.Minute}}, 0, func(int) bool { return true }); err != nil {
		tb.Fatal(err)
	}
	return br, h, f, reqDir
}

// echoApp is echoBridge before any handler joins: the Bridge, its app echo
// with the endpoint /echo made, and the folder of echoSender's requests.
func echoApp(tb testing.TB) (br *Bridge, a *app, reqDir string) {
	tb.Helper()
	cfg := NewConfig(echoOwner, filepath.Join(tb.TempDir(), "datasites"))
	br = New(cfg, metrics.New(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := mkdirAll(filepath.Join(cfg.DatasitesDir, echoOwner)); err != nil {
		tb.Fatal(err)
	}
	root, err := safefs.OpenRoot(filepath.Join(cfg.DatasitesDir, echoOwner))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { root.Close() })
	br.ownerRoot = root
	a, _, err = br.openApp("echo")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.root.Close() })
	if err := prepareEndpoint(a.root, "/echo"); err != nil {
		tb.Fatal(err)
	}
	reqDir = filepath.Join(a.rpcDir, "echo", echoSender)
	if err := os.MkdirAll(reqDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return br, a, reqDir
}

// echoOwner's app echo takes requests from echoSender (echoBridge).
const echoOwner, echoSender = "bob@example.com", "alice@example.com"

// writeRequests writes n requests to /echo in reqDir, the i-th with the
// body {"n":i}, and returns their paths.
func writeRequests(tb testing.TB, reqDir string, n int) []string {
	tb.Helper()
	paths := make([]string, n)
	for i := range paths {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		req := syftrpc.Request{
			ID: id, Sender: echoSender, URL: "syft://" + echoOwner + "/app_data/echo/rpc/echo",
			Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Headers: map[string]string{},
			Created: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Method: "POST",
		}
		paths[i] = filepath.Join(reqDir, id+".request")
		if err := os.WriteFile(paths[i], req.AppendJSON(nil), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return paths
}

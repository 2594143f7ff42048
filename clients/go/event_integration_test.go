package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// These tests run the real sidecar, as integration_test.go does, and change
// real files under its datasites folder.

// datasite is the owner's datasite folder in dataDir.
func datasite(d sidecartest.DataDir) string { return filepath.Join(d.Path, "datasites", owner) }

func MustWriteFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// isProbe tells the files MustWatching writes from the test's own.
func isProbe(p string) bool { return strings.HasPrefix(filepath.Base(p), "probe-") }

// MustWatching writes probe files (named by probe, with a base name that
// starts with "probe-") until seen reports one: the sidecar has the
// subscription in place from then on. The client does not say when the
// sidecar acknowledged a subscription, and a change made before that is
// not reported.
func MustWatching(t *testing.T, probe func(i int) string, seen func() bool) {
	t.Helper()
	deadline := time.Now().Add(answerTimeout)
	for i := 0; time.Now().Before(deadline); i++ {
		MustWriteFile(t, probe(i), "probe")
		if seen() {
			return
		}
	}
	t.Fatal("subscription not in place")
}

// seenFile waits a moment for an event on ch about a probe.
func seenFile(ch <-chan FileEvent) func() bool {
	return func() bool {
		timeout := time.After(100 * time.Millisecond)
		for {
			select {
			case ev := <-ch:
				if isProbe(ev.Path) {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
}

// MustFileEvent returns the next event on ch that is not about a probe.
func MustFileEvent(t *testing.T, ch <-chan FileEvent) FileEvent {
	t.Helper()
	timeout := time.After(answerTimeout)
	for {
		select {
		case ev := <-ch:
			if !isProbe(ev.Path) {
				return ev
			}
		case <-timeout:
			t.Fatal("no file event")
			return FileEvent{}
		}
	}
}

// mustNoFileEvent checks that no event but a probe's arrives for a while.
func mustNoFileEvent(t *testing.T, ch <-chan FileEvent, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-ch:
			if !isProbe(ev.Path) {
				t.Fatalf("unexpected event %+v", ev)
			}
		case <-timeout:
			return
		}
	}
}

func TestIntegrationWatch(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	_, addr := MustStartSidecar(t, dataDir)
	ds := datasite(dataDir)
	c := MustNew(t, addr, WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	jsonF, jsons := fileEvents()
	csvF, csvs := fileEvents()
	dirF, dirs := fileEvents()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Watch([]string{"{datasite}/**/*.json"}, jsonF))
	must(c.Watch([]string{"{app_data}/data/*.csv", "{email}/app_data/echo/data/probe-*"}, csvF,
		WithWatchApp("echo"), WithKinds(Created, Deleted)))
	must(c.Watch([]string{"{datasite}/tree/**"}, dirF, WithDirs(), WithKinds(Created)))
	runClient(t, c)
	MustWatching(t, func(i int) string { return filepath.Join(ds, fmt.Sprintf("probe-%d.json", i)) }, seenFile(jsons))
	appData := filepath.Join(ds, "app_data", "echo", "data")
	MustWatching(t, func(i int) string { return filepath.Join(appData, fmt.Sprint("probe-", i)) }, seenFile(csvs))
	MustWatching(t, func(i int) string { return filepath.Join(ds, "tree", fmt.Sprint("probe-", i)) }, seenFile(dirs))

	t.Run("created in new nested folders", func(t *testing.T) {
		MustWriteFile(t, filepath.Join(ds, "a", "b", "c", "x.json"), "1")
		ev := MustFileEvent(t, jsons)
		if ev.Kind != Created || ev.Path != owner+"/a/b/c/x.json" || ev.IsDir || ev.Cursor.Run == "" || ev.Time.IsZero() {
			t.Fatalf("event = %+v", ev)
		}
	})
	t.Run("modified", func(t *testing.T) {
		// Skip what the creation's own write reported.
		time.Sleep(200 * time.Millisecond)
		for len(jsons) > 0 {
			<-jsons
		}
		f, err := os.OpenFile(filepath.Join(ds, "a", "b", "c", "x.json"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			f.WriteString("more")
		}
		f.Close()
		if ev := MustFileEvent(t, jsons); ev.Kind != Modified || ev.Path != owner+"/a/b/c/x.json" {
			t.Fatalf("event = %+v", ev)
		}
		// A burst of writes is one event.
		mustNoFileEvent(t, jsons, 300*time.Millisecond)
	})
	t.Run("moved", func(t *testing.T) {
		if err := os.Rename(filepath.Join(ds, "a", "b", "c", "x.json"), filepath.Join(ds, "y.json")); err != nil {
			t.Fatal(err)
		}
		if ev := MustFileEvent(t, jsons); ev.Kind != Moved || ev.Path != owner+"/y.json" || ev.From != owner+"/a/b/c/x.json" {
			t.Fatalf("event = %+v", ev)
		}
	})
	t.Run("deleted only when asked", func(t *testing.T) {
		if err := os.Remove(filepath.Join(ds, "y.json")); err != nil {
			t.Fatal(err)
		}
		MustWriteFile(t, filepath.Join(appData, "d.csv"), "x")
		if ev := MustFileEvent(t, csvs); ev.Kind != Created || ev.Path != owner+"/app_data/echo/data/d.csv" {
			t.Fatalf("event = %+v", ev)
		}
		if err := os.Remove(filepath.Join(appData, "d.csv")); err != nil {
			t.Fatal(err)
		}
		if ev := MustFileEvent(t, csvs); ev.Kind != Deleted || ev.Path != owner+"/app_data/echo/data/d.csv" {
			t.Fatalf("event = %+v", ev)
		}
		// The first watch takes no deletes: y.json's went unreported.
		mustNoFileEvent(t, jsons, 300*time.Millisecond)
	})
	t.Run("folders only when asked", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Join(ds, "tree", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		MustWriteFile(t, filepath.Join(ds, "tree", "sub", "f.json"), "1")
		ev := MustFileEvent(t, dirs)
		if ev.Kind != Created || ev.Path != owner+"/tree/sub" || !ev.IsDir {
			t.Fatalf("event = %+v", ev)
		}
		if ev := MustFileEvent(t, dirs); ev.Path != owner+"/tree/sub/f.json" || ev.IsDir {
			t.Fatalf("event = %+v", ev)
		}
		// The json watch saw the file and not the folder.
		if ev := MustFileEvent(t, jsons); ev.Path != owner+"/tree/sub/f.json" {
			t.Fatalf("event = %+v", ev)
		}
	})
}

func TestIntegrationListeners(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	_, addr := MustStartSidecar(t, dataDir)
	ds := datasite(dataDir)

	// A listens to everything; B publishes. Neither serves an endpoint.
	var logs syncBuffer
	a := MustNew(t, addr, WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))))
	got := make(chan named, 64)
	if _, err := a.AddListener(func(name, data string) {
		if data == "boom" {
			panic("listener bug")
		}
		got <- named{name, data}
	}); err != nil {
		t.Fatal(err)
	}
	runClient(t, a)
	MustWatching(t, func(i int) string { return filepath.Join(ds, fmt.Sprint("probe-", i)) }, func() bool {
		timeout := time.After(100 * time.Millisecond)
		for {
			select {
			case n := <-got:
				if n.name == "CREATE" && isProbe(n.data) {
					return true
				}
			case <-timeout:
				return false
			}
		}
	})
	next := func(t *testing.T) named {
		t.Helper()
		for {
			n := MustGet(t, got)
			if !isProbe(n.data) {
				return n
			}
		}
	}

	t.Run("share", func(t *testing.T) {
		MustWriteFile(t, filepath.Join(ds, "public", "syft.pub.yaml"), "rules: []")
		if n := next(t); n != (named{"CREATE", owner + "/public/syft.pub.yaml"}) {
			t.Fatalf("got %v", n)
		}
		if n := next(t); n != (named{"SHARE", owner + "/public/syft.pub.yaml"}) {
			t.Fatalf("got %v", n)
		}
		// The creation's own write may follow as MODIFY and SHARE again.
		for timeout := time.After(300 * time.Millisecond); ; {
			select {
			case n := <-got:
				if n.name != "MODIFY" && n.name != "SHARE" && !isProbe(n.data) {
					t.Fatalf("got %v", n)
				}
				continue
			case <-timeout:
			}
			break
		}
	})

	b := MustNew(t, addr, WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	own, ownGot := listenerEvents()
	if _, err := b.AddListener(own, "model-ready"); err != nil {
		t.Fatal(err)
	}
	runClient(t, b)
	publish := func(t *testing.T, name, data string) {
		t.Helper()
		deadline := time.Now().Add(answerTimeout)
		for {
			err := b.Publish(t.Context(), name, data)
			if err == nil {
				return
			}
			if !errors.Is(err, ErrNotConnected) || time.Now().After(deadline) {
				t.Fatalf("Publish: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("custom event to another client", func(t *testing.T) {
		publish(t, "model-ready", `{"round": 1}`)
		if n := next(t); n != (named{"model-ready", `{"round": 1}`}) {
			t.Fatalf("got %v", n)
		}
		// Every listener of the name gets it, the publisher's own too,
		// once the sidecar had its Listen: the Publish went out after it.
		mustNamed(t, ownGot, "model-ready", `{"round": 1}`)
	})
	t.Run("panicking listener", func(t *testing.T) {
		publish(t, "job", "boom")
		publish(t, "job", "after")
		if n := next(t); n != (named{"job", "after"}) {
			t.Fatalf("got %v", n)
		}
		if out := logs.String(); !strings.Contains(out, "event callback panicked") || !strings.Contains(out, "listener bug") ||
			!strings.Contains(out, "goroutine") {
			t.Fatalf("log lacks the panic and its stack:\n%s", out)
		}
	})
}

// unixProxy forwards connections to a unix socket until Cut, which breaks
// every connection and refuses new ones until Restore: a network that fails
// while the sidecar stays up.
type unixProxy struct {
	addr   string
	target string
	lis    net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func MustUnixProxy(t *testing.T, target string) *unixProxy {
	t.Helper()
	sock := filepath.Join(sidecartest.MustDataDir(t).Path, "p.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &unixProxy{addr: "unix://" + sock, target: strings.TrimPrefix(target, "unix://"), lis: lis, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() { lis.Close(); p.Cut(); p.wg.Wait() })
	return p
}

func (p *unixProxy) serve() {
	for {
		in, err := p.lis.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("unix", p.target)
		p.mu.Lock()
		if err != nil || p.down {
			p.mu.Unlock()
			in.Close()
			if out != nil {
				out.Close()
			}
			continue
		}
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		for _, pair := range [][2]net.Conn{{in, out}, {out, in}} {
			p.wg.Go(func() {
				io.Copy(pair[0], pair[1])
				pair[0].Close()
				pair[1].Close()
			})
		}
	}
}

func (p *unixProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *unixProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// The connection breaks while files change: after the reconnect each
// change arrives once, in order.
func TestIntegrationEventsResume(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	_, addr := MustStartSidecar(t, dataDir)
	proxy := MustUnixProxy(t, addr)
	dir := filepath.Join(datasite(dataDir), "resume")
	onMissed, missed := missedEvents()
	c := MustNew(t, proxy.addr, onMissed, WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	w, got := fileEvents()
	if err := c.Watch([]string{"{datasite}/resume/*"}, w, WithKinds(Created)); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	MustWatching(t, func(i int) string { return filepath.Join(dir, fmt.Sprint("probe-", i)) }, seenFile(got))
	MustWriteFile(t, filepath.Join(dir, "0.txt"), "0")
	if ev := MustFileEvent(t, got); ev.Path != owner+"/resume/0.txt" {
		t.Fatalf("event = %+v", ev)
	}

	for round := 1; round <= 3; round++ {
		proxy.Cut()
		for i := range 5 {
			MustWriteFile(t, filepath.Join(dir, fmt.Sprintf("%d-%d.txt", round, i)), "x")
		}
		time.Sleep(200 * time.Millisecond) // the sidecar has them all in its log
		proxy.Restore()
		for i := range 5 {
			if ev := MustFileEvent(t, got); ev.Path != fmt.Sprintf("%s/resume/%d-%d.txt", owner, round, i) {
				t.Fatalf("round %d: event %d = %+v", round, i, ev)
			}
		}
	}
	mustNoFileEvent(t, got, 300*time.Millisecond)
	select {
	case m := <-missed:
		t.Fatalf("missed events: %+v", m)
	default:
	}
}

// A sidecar restart, and a disconnection longer than the sidecar's buffer:
// the app is told, then events flow again.
func TestIntegrationEventsMissed(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	sc, addr := MustStartSidecar(t, dataDir, "--event-buffer", "2")
	proxy := MustUnixProxy(t, addr)
	dir := filepath.Join(datasite(dataDir), "missed")
	onMissed, missed := missedEvents()
	c := MustNew(t, proxy.addr, onMissed, WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	w, got := fileEvents()
	// Folders, because a new folder is one event where a new file is a
	// CREATE and then a MODIFY: the tiny log then holds exactly what the
	// test made.
	if err := c.Watch([]string{"{datasite}/missed/*"}, w, WithKinds(Created), WithDirs()); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	MustWatching(t, func(i int) string { return filepath.Join(dir, fmt.Sprint("probe-", i)) }, seenFile(got))
	time.Sleep(200 * time.Millisecond) // the probes' MODIFY events are in the log before what follows
	mkdir := func(name string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("0")
	last := MustFileEvent(t, got)

	t.Run("compacted", func(t *testing.T) {
		proxy.Cut()
		for i := range 5 {
			mkdir(fmt.Sprint("c", i))
		}
		time.Sleep(200 * time.Millisecond)
		proxy.Restore()
		m := MustGet(t, missed)
		want := MissedEvents{ID: "w1", FromSeq: last.Cursor.Seq + 1, ToSeq: last.Cursor.Seq + 3, Reason: "compacted"}
		if m != want {
			t.Fatalf("missed = %+v, want %+v", m, want)
		}
		for i, name := range []string{"c3", "c4"} {
			if ev := MustFileEvent(t, got); ev.Path != owner+"/missed/"+name || !ev.IsDir || ev.Cursor.Seq != want.ToSeq+1+uint64(i) {
				t.Fatalf("event = %+v, want %s", ev, name)
			}
		}
	})
	t.Run("restart", func(t *testing.T) {
		sc.Stop(t)
		MustStartSidecar(t, dataDir, "--event-buffer", "2")
		m := MustGet(t, missed)
		if m.ID != "w1" || !m.Restarted || m.Reason != "restart" {
			t.Fatalf("missed = %+v", m)
		}
		mkdir("after")
		if ev := MustFileEvent(t, got); ev.Path != owner+"/missed/after" || ev.Cursor.Run == last.Cursor.Run {
			t.Fatalf("event = %+v, want one of the new run", ev)
		}
		// A reconnect now resumes in the new run: no second notice.
		proxy.Cut()
		proxy.Restore()
		mkdir("again")
		if ev := MustFileEvent(t, got); ev.Path != owner+"/missed/again" {
			t.Fatalf("event = %+v", ev)
		}
		select {
		case m := <-missed:
			t.Fatalf("missed again: %+v", m)
		default:
		}
	})
}

// The connection breaks again and again while a writer keeps creating
// files: every file is reported once, in the order of creation.
func TestIntegrationEventsResumeUnderLoad(t *testing.T) {
	dataDir := sidecartest.MustDataDir(t)
	_, addr := MustStartSidecar(t, dataDir)
	proxy := MustUnixProxy(t, addr)
	dir := filepath.Join(datasite(dataDir), "load")
	onMissed, missed := missedEvents()
	c := MustNew(t, proxy.addr, onMissed, WithBackoff(time.Millisecond, 20*time.Millisecond))
	got := make(chan FileEvent, 10000)
	if err := c.Watch([]string{"{datasite}/load/*"}, func(_ context.Context, ev FileEvent) { got <- ev }, WithKinds(Created)); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	MustWatching(t, func(i int) string { return filepath.Join(dir, fmt.Sprint("probe-", i)) }, seenFile(got))

	const n = 1500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), nil, 0o644); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	cuts := 0
	for loop := true; loop; cuts++ {
		select {
		case <-done:
			loop = false
		case <-time.After(30 * time.Millisecond):
			proxy.Cut()
			time.Sleep(10 * time.Millisecond)
			proxy.Restore()
		}
	}
	var prev uint64
	for i := range n {
		ev := MustFileEvent(t, got)
		if want := fmt.Sprintf("%s/load/f%05d", owner, i); ev.Path != want || ev.Cursor.Seq <= prev {
			t.Fatalf("event %d of %d after %d cuts = %+v (previous seq %d), want %s", i, n, cuts, ev, prev, want)
		}
		prev = ev.Cursor.Seq
	}
	mustNoFileEvent(t, got, 300*time.Millisecond)
	select {
	case m := <-missed:
		t.Fatalf("missed events: %+v", m)
	default:
	}
	t.Logf("%d files, %d connection cuts: each reported once, in order", n, cuts)
}

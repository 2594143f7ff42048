package watcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/watcher"
)

func MustOpen(t *testing.T) *watcher.Watcher {
	t.Helper()
	w := watcher.New()
	w.ReconcileInterval = 0
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func MustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MustSee waits until every path has been reported with one of ops.
func MustSee(t *testing.T, w *watcher.Watcher, ops watcher.Op, paths ...string) {
	t.Helper()
	want := make(map[string]bool)
	for _, p := range paths {
		want[p] = true
	}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-w.Events():
			if ev.Op&ops != 0 {
				delete(want, ev.Path)
			}
		case <-deadline:
			t.Fatalf("not reported within 5s: %v", want)
		}
	}
}

func TestAddReportsExistingFiles(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a.request"), filepath.Join(root, "x/y/b.request")
	MustWrite(t, a)
	MustWrite(t, b)
	w := MustOpen(t)
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	MustSee(t, w, watcher.Found, a, b)
}

func TestNewNestedFoldersAreWatched(t *testing.T) {
	root := t.TempDir()
	w := MustOpen(t)
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	// mkdir -p and a file at once: the file is made before the new
	// folders' watches can exist, so only the scan of a new folder sees it.
	p := filepath.Join(root, "a/b/c/x.request")
	MustWrite(t, p)
	MustSee(t, w, watcher.Found|watcher.Create, p)
	// And later files in that folder come as events.
	q := filepath.Join(root, "a/b/c/y.request")
	MustWrite(t, q)
	MustSee(t, w, watcher.Create, q)
}

func TestRenameInAndOut(t *testing.T) {
	root, elsewhere := t.TempDir(), t.TempDir()
	w := MustOpen(t)
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(elsewhere, "x.tmp")
	MustWrite(t, tmp)
	in := filepath.Join(root, "x.request")
	if err := os.Rename(tmp, in); err != nil {
		t.Fatal(err)
	}
	MustSee(t, w, watcher.Create, in)
	if err := os.Rename(in, filepath.Join(elsewhere, "gone")); err != nil {
		t.Fatal(err)
	}
	MustSee(t, w, watcher.Delete, in)
}

func TestRescanReportsEverything(t *testing.T) {
	root := t.TempDir()
	w := MustOpen(t)
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "e/s@x.org/1.request")
	MustWrite(t, p)
	MustSee(t, w, watcher.Create|watcher.Found, p)
	if err := w.Rescan(context.Background()); err != nil {
		t.Fatal(err)
	}
	MustSee(t, w, watcher.Found, p)
}

func TestLinkedFoldersAreNotWatched(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "s.request")
	MustWrite(t, secret)
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(root, "mark.request")
	MustWrite(t, mark)
	w := MustOpen(t)
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	// The scan reports mark; had it entered the link, s.request would come
	// in the same pass, and both would be on the channel by now.
	MustSee(t, w, watcher.Found, mark)
	select {
	case ev := <-w.Events():
		t.Fatalf("reported %v through a link", ev)
	default:
	}
}

func TestIgnoredNamesAreNeitherReportedNorEntered(t *testing.T) {
	root := t.TempDir()
	w := MustOpen(t)
	w.Ignore = func(name string) bool { return name[0] == '.' }
	MustWrite(t, filepath.Join(root, ".hidden/inside.request"))
	MustWrite(t, filepath.Join(root, ".skip.request"))
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	MustWrite(t, filepath.Join(root, ".later.request"))
	mark := filepath.Join(root, "mark.request")
	MustWrite(t, mark)
	// Events of one folder arrive in order: once mark is reported, the
	// ignored file before it would have been too.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if ev.Path == mark {
				return
			}
			t.Fatalf("reported ignored %v", ev)
		case <-deadline:
			t.Fatal("mark not reported")
		}
	}
}

// Removals brings back the removal of names Ignore hides, and nothing else
// of them: not their creation, not their writes, not a scan's report.
func TestRemovalsOfIgnoredNames(t *testing.T) {
	root := t.TempDir()
	w := MustOpen(t)
	w.Ignore = func(name string) bool { return filepath.Ext(name) == ".response" }
	w.Removals = w.Ignore
	old := filepath.Join(root, "old.response")
	MustWrite(t, old)
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(root, "fresh.response")
	MustWrite(t, fresh)
	for _, p := range []string{old, fresh} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	mark := filepath.Join(root, "mark.request")
	MustWrite(t, mark)
	want := []string{old, fresh}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			switch {
			case ev.Path == mark:
				if len(want) > 0 {
					t.Fatalf("removals not reported: %v", want)
				}
				return
			case len(want) > 0 && ev.Path == want[0] && ev.Op == watcher.Delete:
				want = want[1:]
			default:
				t.Fatalf("reported %v", ev)
			}
		case <-deadline:
			t.Fatal("mark not reported")
		}
	}
}

// A rename inside the watched tree carries where it came from; without
// MovedFrom it is reported all the same, with no old path.
func TestMoveCarriesFrom(t *testing.T) {
	for _, movedFrom := range []bool{true, false} {
		root := t.TempDir()
		w := watcher.New()
		w.ReconcileInterval = 0
		w.MovedFrom = movedFrom
		if err := w.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		if err := w.Add(context.Background(), root); err != nil {
			t.Fatal(err)
		}
		a, b := filepath.Join(root, "a.json"), filepath.Join(root, "b.json")
		MustWrite(t, a)
		MustSee(t, w, watcher.Create, a)
		if err := os.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		want := ""
		if movedFrom {
			want = a
		}
		MustSeeFrom(t, w, b, want)
	}
}

// MustSeeFrom waits for the Create of p and checks its From.
func MustSeeFrom(t *testing.T, w *watcher.Watcher, p, from string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if ev.Path == p && ev.Op == watcher.Create {
				if ev.From != from {
					t.Fatalf("From = %q, want %q", ev.From, from)
				}
				return
			}
		case <-deadline:
			t.Fatal("move not reported")
		}
	}
}

// With Dirs, folders are reported, and the files of a folder that just
// appeared come as Create (they are new), not Found.
func TestDirsAndNewFolderContents(t *testing.T) {
	root := t.TempDir()
	w := watcher.New()
	w.ReconcileInterval = 0
	w.Dirs = true
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(root, "a/b/c/x.json")
	MustWrite(t, x) // mkdir -p a/b/c && touch x.json
	seen := map[string]watcher.Event{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 4 {
		select {
		case ev := <-w.Events():
			seen[ev.Path] = ev
		case <-deadline:
			t.Fatalf("seen %v", seen)
		}
	}
	if ev := seen[x]; ev.Op != watcher.Create || ev.Dir {
		t.Fatalf("x.json: %+v", ev)
	}
	if ev := seen[filepath.Join(root, "a")]; !ev.Dir || ev.Op != watcher.Create {
		t.Fatalf("a: %+v", ev)
	}
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	MustSee(t, w, watcher.Delete, filepath.Join(root, "a"))
	w.RemoveRoot(root)
	late := filepath.Join(root, "late.json")
	MustWrite(t, late)
	select {
	case ev := <-w.Events():
		if ev.Path == late {
			t.Fatalf("reported %v after RemoveRoot", ev)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

// Dropping a root that another root holds keeps its folders watched.
func TestRemoveNestedRootKeepsWatches(t *testing.T) {
	root := t.TempDir()
	inner := filepath.Join(root, "inner")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	w := MustOpen(t)
	if err := w.Add(context.Background(), inner); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	w.RemoveRoot(inner)
	p := filepath.Join(inner, "x.json")
	MustWrite(t, p)
	MustSee(t, w, watcher.Create, p)
}

// A scan leaves out each file whose partner was listed beside it, whether
// or not Ignore hides the partner, and numbers its listings.
func TestScanLeavesOutPartnered(t *testing.T) {
	root := t.TempDir()
	// b's partner is not there, but names that sort between b.request and
	// b.response are; c's partner is a folder, which counts as listed.
	for _, name := range []string{"a.request", "a.response", "b.request", "b.request.tmp", "b.requestz", "b.resp", "c.request", "x/d.request", "x/d.response", "x/e.request", "f.other"} {
		MustWrite(t, filepath.Join(root, name))
	}
	if err := os.Mkdir(filepath.Join(root, "c.response"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := watcher.New()
	w.ReconcileInterval = 0
	w.Partners = watcher.Partners{Of: ".request", Is: ".response"}
	w.Ignore = func(name string) bool { return filepath.Ext(name) == ".response" }
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	before := w.Listings()
	// Add returns once the scan has queued every event it makes.
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"b.request": true, "b.request.tmp": true, "b.requestz": true, "b.resp": true, "x/e.request": true, "f.other": true}
	listings := map[string]uint64{}
	for n := len(w.Events()); n > 0; n-- {
		ev := <-w.Events()
		rel, _ := filepath.Rel(root, ev.Path)
		rel = filepath.ToSlash(rel)
		if !want[rel] {
			t.Errorf("reported %s", rel)
		}
		if ev.Listing <= before || ev.Listing > w.Listings() {
			t.Errorf("%s: Listing %d, not in (%d, %d]", rel, ev.Listing, before, w.Listings())
		}
		listings[filepath.Dir(rel)] = ev.Listing
		delete(want, rel)
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v", want)
	}
	if listings["."] == listings["x"] {
		t.Errorf("both folders reported with listing %d", listings["."])
	}
}

// A Sink takes the events in place of Events: a scan's with more set, since
// the rest of its listing follows; an inotify event with none wanted behind
// it (the ignored names written before it are dropped unseen) without.
func TestSink(t *testing.T) {
	root := t.TempDir()
	MustWrite(t, filepath.Join(root, "old/a.request"))
	MustWrite(t, filepath.Join(root, "old/b.request"))
	type got struct {
		path string
		op   watcher.Op
		more bool
	}
	events := make(chan got, 16)
	w := watcher.New()
	w.ReconcileInterval = 0
	w.Ignore = func(name string) bool { return filepath.Ext(name) == ".response" }
	w.Sink = func(ctx context.Context, ev watcher.Event, more bool) bool {
		events <- got{ev.Path, ev.Op, more}
		return true
	}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	next := func() got {
		t.Helper()
		select {
		case g := <-events:
			return g
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
			return got{}
		}
	}
	for range 2 {
		if g := next(); g.op != watcher.Found || !g.more {
			t.Fatalf("scan: %+v, want Found with more", g)
		}
	}
	for _, name := range []string{"x.response", "y.response", "c.request"} {
		MustWrite(t, filepath.Join(root, name))
	}
	c := filepath.Join(root, "c.request")
	// c.request's create, then its write: the last one is last.
	var last got
	for last.path != c || last.op != watcher.Modify {
		last = next()
		if last.path != c {
			t.Fatalf("reported %s", last.path)
		}
	}
	if last.more {
		t.Fatal("the last event reported with more")
	}
	select {
	case ev := <-w.Events():
		t.Fatalf("Events got %v with a Sink set", ev)
	default:
	}
}

// A sink that refuses a scan's file with its context alive leaves the rest
// of that folder's files out of the scan; its subfolders are still
// scanned, and a later scan reports what was left out.
func TestSinkRefusalLeavesTheRestOut(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a", "b", "c", "sub/d"} {
		MustWrite(t, filepath.Join(root, name))
	}
	var (
		got    []string
		refuse = "b"
	)
	w := watcher.New()
	w.ReconcileInterval = 0
	w.Sink = func(ctx context.Context, ev watcher.Event, more bool) bool {
		rel, _ := filepath.Rel(root, ev.Path)
		got = append(got, filepath.ToSlash(rel))
		return rel != refuse
	}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	// Scans run on the caller's goroutine: got is complete when they return.
	if err := w.Add(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	if want := "[a b sub/d]"; fmt.Sprint(got) != want {
		t.Fatalf("scan reported %v, want %s (c left out after b was refused)", got, want)
	}
	got, refuse = nil, ""
	if err := w.Rescan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "[a b c sub/d]"; fmt.Sprint(got) != want {
		t.Fatalf("rescan reported %v, want %s", got, want)
	}
}

package watcher_test

import (
	"context"
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
	MustSee(t, w, watcher.Remove, in)
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

package safefs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

// A link that stays inside the root is refused too: os.Root alone would
// follow it, and a peer's link could move a response into another folder.
func TestInsideLinksAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, filepath.Join(dir, "real/x.request"), "x")
	if err := os.Symlink("real", filepath.Join(dir, "ep")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real/x.request", filepath.Join(dir, "y.request")); err != nil {
		t.Fatal(err)
	}
	r := MustOpenRoot(t, dir)
	for _, rel := range []string{"ep/x.request", "y.request"} {
		if b, err := r.ReadFile(rel, 1<<20); err == nil {
			t.Errorf("ReadFile(%s) read %q through a link", rel, b)
		}
	}
	if err := r.CreateNew("ep/x.response", []byte("x"), 0o644); err == nil {
		t.Error("CreateNew wrote through a linked folder")
	}
	if err := r.WriteFile("ep/x.response", []byte("x"), 0o644); err == nil {
		t.Error("WriteFile wrote through a linked folder")
	}
	if _, err := r.ReadDir("ep"); err == nil {
		t.Error("ReadDir listed a linked folder")
	}
	if err := r.Remove("ep/x.request"); err == nil {
		t.Error("Remove went through a linked folder")
	}
	if _, err := os.Stat(filepath.Join(dir, "real/x.request")); err != nil {
		t.Errorf("the linked-to file is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "real/x.response")); err == nil {
		t.Error("a response was written through the link")
	}
	for _, bad := range []string{"real/../real/x.request", "./real/x.request", "real//x.request"} {
		if _, err := r.ReadFile(bad, 1<<20); err == nil {
			t.Errorf("ReadFile(%q): a path that is not clean was read", bad)
		}
	}
}

// Of many writers of one response exactly one wins; the others get
// ErrExist, and the file holds the winner's bytes whole.
func TestCreateNewConcurrentlyOnce(t *testing.T) {
	dir := t.TempDir()
	r := MustOpenRoot(t, dir)
	const writers = 16
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = r.CreateNew("x.response", fmt.Appendf(nil, "writer %02d", i), 0o644)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both created the file", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, safefs.ErrExist):
			t.Fatalf("writer %d: %v, want ErrExist", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer created the file")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x.response")); string(b) != fmt.Sprintf("writer %02d", won) {
		t.Fatalf("content %q, want writer %02d's", b, won)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestMkdirAllRefusesLinkedParts(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	r := MustOpenRoot(t, dir)
	for _, rel := range []string{"out/a", "self/a"} {
		if err := r.MkdirAll(rel, 0o755); err == nil {
			t.Errorf("MkdirAll(%s) went through a link", rel)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("created outside the root: %v", entries)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); err == nil {
		t.Fatal("created through the link to the root itself")
	}
	if err := r.MkdirAll("a/b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.MkdirAll("a/b/c", 0o755); err != nil {
		t.Fatalf("MkdirAll of what exists: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "a/b/c")); err != nil || !fi.IsDir() {
		t.Fatalf("a/b/c: %v, %v", fi, err)
	}
}

package safefs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

func MustOpenPortableRoot(t *testing.T, dir string) root {
	t.Helper()
	r, err := safefs.OpenPortableRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Where the filesystem has no hard links, the platform's rename that
// refuses to replace keeps CreateNew's promise.
func TestPortableCreateNewWithoutLinks(t *testing.T) {
	safefs.NoLink.Store(true)
	t.Cleanup(func() { safefs.NoLink.Store(false) })
	dir := t.TempDir()
	r := MustOpenPortableRoot(t, dir)
	if err := r.CreateNew("f", []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateNew("f", []byte("second"), 0o644); !errors.Is(err, safefs.ErrExist) {
		t.Fatalf("second CreateNew: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "first" {
		t.Fatalf("content %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary file left: %v", entries)
	}
}

// A Root opened beneath another stays beneath it and refuses links alike.
func TestPortableOpenRoot(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, filepath.Join(dir, "a/b/f"), "data")
	if err := os.Symlink("a", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	r, err := safefs.OpenPortableRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.OpenRoot("l"); err == nil {
		t.Fatal("opened a linked folder as a root")
	}
	sub, err := r.OpenRoot("a")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Path() != filepath.Join(dir, "a") {
		t.Fatalf("Path() = %q", sub.Path())
	}
	if b, err := sub.ReadFile("b/f", 1<<20); err != nil || string(b) != "data" {
		t.Fatalf("ReadFile(b/f) = %q, %v", b, err)
	}
	if _, err := sub.ReadFile("../l/b/f", 1<<20); err == nil {
		t.Fatal("left the sub-root")
	}
}

// The portable Root gives a new response the write event the SyftBox client
// sends on, as the Linux one does, by both of its ways of writing.
func TestPortableCreateNewMakesWriteEvent(t *testing.T) {
	for _, noLink := range []bool{false, true} {
		t.Run(map[bool]string{false: "link", true: "rename"}[noLink], func(t *testing.T) {
			if noLink {
				safefs.NoLink.Store(true)
				t.Cleanup(func() { safefs.NoLink.Store(false) })
			}
			dir := t.TempDir()
			r := MustOpenPortableRoot(t, dir)
			want := []byte(`{"id":"x","status_code":200}`)
			safefs.MustCreateWithWriteEvent(t, dir, "x.response", want, func() error {
				return r.CreateNew("x.response", want, 0o644)
			})
		})
	}
}

package safefs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

// MustOpenRoot opens dir with the platform's Root, or with the portable
// one inside TestPortable.
func MustOpenRoot(t *testing.T, dir string) root {
	t.Helper()
	r, err := openerFor(t)(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func MustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCreateNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	r := MustOpenRoot(t, dir)
	MustWrite(t, filepath.Join(dir, "ep/a@b.c/x.response"), "first")
	err := r.CreateNew("ep/a@b.c/x.response", []byte("second"), 0o644)
	if !errors.Is(err, safefs.ErrExist) {
		t.Fatalf("CreateNew over an existing file: err = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ep/a@b.c/x.response")); string(b) != "first" {
		t.Fatalf("existing file changed to %q", b)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "ep/a@b.c"))
	if len(entries) != 1 {
		t.Fatalf("temporary file left behind: %v", entries)
	}
}

func TestCreateNewWrites(t *testing.T) {
	dir := t.TempDir()
	r := MustOpenRoot(t, dir)
	if err := r.MkdirAll("a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateNew("a/b/f", []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a/b/f")); err != nil || string(b) != "data" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if ok, err := r.Exists("a/b/f"); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if ok, err := r.Exists("a/nope/f"); ok || err != nil {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}
	if err := r.WriteFile("a/b/f", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a/b/f")); string(b) != "new" {
		t.Fatalf("WriteFile did not replace: %q", b)
	}
}

// A folder inside the root that links elsewhere must not be passed through,
// for reading or for writing.
func TestSymlinksAreNotFollowed(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	MustWrite(t, filepath.Join(outside, "secret.request"), "secret")
	if err := os.Symlink(outside, filepath.Join(dir, "ep")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.request"), filepath.Join(dir, "file.request")); err != nil {
		t.Fatal(err)
	}
	r := MustOpenRoot(t, dir)
	if _, err := r.ReadFile("ep/secret.request", 1<<20); err == nil {
		t.Fatal("read through a linked folder")
	}
	if _, err := r.ReadFile("file.request", 1<<20); err == nil {
		t.Fatal("read through a linked file")
	}
	if err := r.CreateNew("ep/x.response", []byte("x"), 0o644); err == nil {
		t.Fatal("wrote through a linked folder")
	}
	if _, err := os.Stat(filepath.Join(outside, "x.response")); err == nil {
		t.Fatal("file created outside the root")
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../x"} {
		if _, err := r.ReadFile(bad, 1<<20); err == nil {
			t.Errorf("ReadFile(%q) left the root", bad)
		}
	}
}

// ReadDir's entry and ReadFileStamp give one file the same stamp, and a
// rewrite of the same length with a later time gives it another.
func TestStampsAgree(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.request")
	MustWrite(t, p, "abc")
	old := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	r := MustOpenRoot(t, dir)
	stamp := func() (safefs.Stamp, safefs.Stamp) {
		t.Helper()
		entries, err := r.ReadDir(".")
		if err != nil || len(entries) != 1 {
			t.Fatalf("ReadDir: %v, %+v", err, entries)
		}
		_, read, err := r.ReadFileStamp("f.request", 10)
		if err != nil {
			t.Fatal(err)
		}
		return entries[0].Stamp(), read
	}
	listed, read := stamp()
	if listed != read || read.Size != 3 || !read.ModTime.Equal(old) {
		t.Fatalf("listed %+v, read %+v, want size 3 at %s", listed, read, old)
	}
	MustWrite(t, p, "xyz")
	listed2, read2 := stamp()
	if listed2 != read2 || read2 == read {
		t.Fatalf("after a rewrite: listed %+v, read %+v, before %+v", listed2, read2, read)
	}
}

func TestReadDirAndRemove(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	MustWrite(t, filepath.Join(dir, "a/f.request"), "x")
	MustWrite(t, filepath.Join(outside, "keep.request"), "x")
	if err := os.Symlink(outside, filepath.Join(dir, "a/link")); err != nil {
		t.Fatal(err)
	}
	r := MustOpenRoot(t, dir)
	entries, err := r.ReadDir("a")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]safefs.Entry{}
	for _, e := range entries {
		got[e.Name] = e
	}
	if f := got["f.request"]; !f.Regular || f.Dir || f.ModTime.IsZero() {
		t.Fatalf("f.request: %+v", f)
	}
	if l := got["link"]; l.Dir || l.Regular {
		t.Fatalf("a link must be neither folder nor file: %+v", l)
	}
	if err := r.Remove("a/link/keep.request"); err == nil {
		t.Fatal("removed through a link")
	}
	if _, err := os.Stat(filepath.Join(outside, "keep.request")); err != nil {
		t.Fatal("file outside the root was removed")
	}
	if err := r.Remove("a/f.request"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("a/f.request"); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
	if err := r.RemoveEmptyDir("a"); err == nil {
		t.Fatal("removed a folder that still holds the link")
	}
	if err := r.Remove("a/link"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveEmptyDir("a"); err != nil {
		t.Fatal(err)
	}
}

// A FIFO opens at once and is refused by its type, whether or not a writer
// holds it: nothing waits on it.
func TestReadFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	MustMkfifo(t, filepath.Join(dir, "fifo.request"))
	if err := os.Mkdir(filepath.Join(dir, "dir.request"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := MustOpenRoot(t, dir)
	for _, name := range []string{"fifo.request", "dir.request"} {
		if _, err := r.ReadFile(name, 1<<20); !errors.Is(err, safefs.ErrNotRegular) {
			t.Errorf("ReadFile(%s) = %v, want ErrNotRegular", name, err)
		}
	}
}

func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, filepath.Join(dir, "f"), "12345")
	r := MustOpenRoot(t, dir)
	if b, err := r.ReadFile("f", 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q, %v", b, err)
	}
	if _, err := r.ReadFile("f", 4); !errors.Is(err, safefs.ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
}

func TestReadFileRefusesHardLinks(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	MustWrite(t, filepath.Join(outside, "secret"), "s")
	if err := os.Link(filepath.Join(outside, "secret"), filepath.Join(dir, "x.request")); err != nil {
		t.Skipf("no hard links across these folders: %v", err)
	}
	r := MustOpenRoot(t, dir)
	if _, err := r.ReadFile("x.request", 1<<20); !errors.Is(err, safefs.ErrLinked) {
		t.Fatalf("ReadFile of a hard link = %v, want ErrLinked", err)
	}
}

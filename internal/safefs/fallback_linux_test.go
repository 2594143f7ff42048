package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// mustOpenTempRoot opens a Root on a new folder for the test; without
// tmpfile, it writes as where O_TMPFILE is missing.
func mustOpenTempRoot(t *testing.T, tmpfile bool) (*Root, string) {
	t.Helper()
	if !tmpfile {
		noTmpfile.Store(true)
		t.Cleanup(func() { noTmpfile.Store(false) })
	}
	dir := t.TempDir()
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

// Where O_TMPFILE is missing, the rename path must keep the same promises.
func TestCreateNewWithoutTmpfile(t *testing.T) {
	r, dir := mustOpenTempRoot(t, false)
	if err := r.CreateNew("f", []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateNew("f", []byte("second"), 0o644); !errors.Is(err, ErrExist) {
		t.Fatalf("second CreateNew: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "first" {
		t.Fatalf("content %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary file left: %v", entries)
	}
}

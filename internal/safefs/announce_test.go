//go:build linux

package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The SyftBox client sends a response at once only on a write event
// (IN_MODIFY, fsnotify's Write). CreateNew must produce one for the file's
// own name after the file appears, on both ways of writing, and leave its
// bytes as written.
func TestCreateNewMakesWriteEvent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noTmpfile bool
	}{{"tmpfile", false}, {"rename", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r, dir := mustOpenTempRoot(t, !tc.noTmpfile)
			want := []byte(`{"id":"x","status_code":200}`)
			mustCreateWithWriteEvent(t, dir, "x.response", want, func() error {
				return r.CreateNew("x.response", want, 0o644)
			})
		})
	}
}

// A file that is no longer the one we linked (replaced by a sync, or a link
// put in its place) is neither written nor followed.
func TestAnnounceWriteRefusesOtherFiles(t *testing.T) {
	dir, dfd := mustTempDirFd(t)
	mine := filepath.Join(dir, "mine")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Held open, the removed file keeps its inode, so the replacement
	// cannot get the same number.
	old, err := os.Open(mine)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(old.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(mine); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "other"), mine); err != nil {
		t.Fatal(err)
	}
	if err := announceWrite(dfd, "mine", &st, 'm'); !errors.Is(err, errReplaced) {
		t.Fatalf("replaced file: err = %v, want errReplaced", err)
	}
	if err := os.Symlink(mine, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := announceWrite(dfd, "link", &st, 'm'); !errors.Is(err, unix.ELOOP) {
		t.Fatalf("symlink: err = %v, want ELOOP", err)
	}
	if b, _ := os.ReadFile(mine); string(b) != "other" {
		t.Fatalf("content changed to %q", b)
	}
}

// A file of ours that someone truncated or rewrote meanwhile is left as it
// is: the rewrite would otherwise bring back a byte of what was there.
func TestAnnounceWriteLeavesAChangedFile(t *testing.T) {
	dir, dfd := mustTempDirFd(t)
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("written"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(f, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, 0); err != nil {
		t.Fatal(err)
	}
	if err := announceWrite(dfd, "f", &st, 'w'); !errors.Is(err, errReplaced) {
		t.Fatalf("truncated file: err = %v, want errReplaced", err)
	}
	if b, _ := os.ReadFile(f); len(b) != 0 {
		t.Fatalf("truncated file written: %q", b)
	}
}

// mustTempDirFd makes a folder for the test and holds it open as
// announceWrite takes it.
func mustTempDirFd(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(dfd) })
	return dir, dfd
}

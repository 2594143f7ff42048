//go:build unix

package safefs_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

// A FIFO is refused by its type and never opened, so nothing waits on it.
func TestPortableRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.request"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := MustOpenPortableRoot(t, dir)
	if _, err := r.ReadFile("fifo.request"); !errors.Is(err, safefs.ErrNotRegular) {
		t.Fatalf("ReadFile(fifo) = %v, want ErrNotRegular", err)
	}
}

//go:build unix

package safefs_test

import (
	"syscall"
	"testing"
)

func MustMkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

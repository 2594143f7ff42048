package cleanup_test

import (
	"syscall"
	"testing"
	"time"
)

// atime is when the file at p was last read.
func atime(t *testing.T, p string) time.Time {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return time.Unix(st.Atim.Unix())
}

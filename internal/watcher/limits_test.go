package watcher

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// A watch that fails for want of descriptors says so and what to do, and
// keeps its cause for errors.Is; other errors pass unchanged.
func TestDescribe(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		err := describe(fmt.Errorf("open /d/x: %w", errno))
		if !errors.Is(err, errno) || !errors.Is(err, errNoDescriptors) {
			t.Errorf("describe(%v) = %v: lost the cause or the hint", errno, err)
		}
		if !strings.Contains(err.Error(), "ulimit -n") {
			t.Errorf("describe(%v) = %q: no advice", errno, err)
		}
	}
	other := fmt.Errorf("open /d/x: %w", syscall.ENOENT)
	if got := describe(other); got != other {
		t.Errorf("describe(ENOENT) = %v, want it unchanged", got)
	}
}

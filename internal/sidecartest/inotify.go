package sidecartest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fs.inotify.max_queued_events is machine-wide, and each inotify instance
// copies it when it is made. A test that lowers it to overflow a sidecar's
// queue would hand the small queue to any sidecar another test package
// starts meanwhile. So every sidecar start holds a shared lock on one file
// until its watchers exist, and lowering the limit holds it exclusively.

const queuedEventsKnob = "/proc/sys/fs/inotify/max_queued_events"

var (
	// lowered is set while this process holds the lock exclusively: its
	// own sidecar starts then go ahead (they are the ones meant to get the
	// small queue).
	lowered   bool
	loweredMu sync.Mutex
)

// lockInotify takes the machine-wide lock (shared or exclusive) and
// returns its release. The file is opened read-only, which flock needs no
// more than, so any user may take the lock whoever made the file.
func lockInotify(tb testing.TB, how int) func() {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "syft-sidecar-inotify.lock"), os.O_CREATE|os.O_RDONLY, 0o666)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	return func() { f.Close() }
}

// InotifyInstances counts the inotify instances process pid holds open.
func InotifyInstances(tb testing.TB, pid int) int {
	tb.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && target == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

// sidecarInotify is how many inotify instances a started sidecar makes:
// the request watcher's and the event watcher's.
const sidecarInotify = 2

// MustLowerQueuedEvents sets fs.inotify.max_queued_events to n, runs start
// (which starts the sidecar meant to get the small queue and returns it),
// and restores the limit the moment that sidecar holds its inotify
// instances. No other sidecar started through this package, in any test
// process, makes its instances meanwhile. It skips the test when not root.
func MustLowerQueuedEvents(tb testing.TB, n int, start func() *Proc) *Proc {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to lower fs.inotify.max_queued_events")
	}
	old, err := os.ReadFile(queuedEventsKnob)
	if err != nil {
		tb.Skip(err)
	}
	unlock := lockInotify(tb, syscall.LOCK_EX)
	defer unlock()
	if err := os.WriteFile(queuedEventsKnob, []byte(strconv.Itoa(n)), 0o644); err != nil {
		tb.Skipf("cannot lower %s: %v", queuedEventsKnob, err)
	}
	restore := func() {
		if err := os.WriteFile(queuedEventsKnob, old, 0o644); err != nil {
			tb.Errorf("restore %s: %v", queuedEventsKnob, err)
		}
	}
	defer restore()
	loweredMu.Lock()
	lowered = true
	loweredMu.Unlock()
	defer func() {
		loweredMu.Lock()
		lowered = false
		loweredMu.Unlock()
	}()
	p := start()
	WaitFor(tb, StartTimeout, "the sidecar's inotify instances", func() bool {
		return InotifyInstances(tb, p.Pid()) >= sidecarInotify
	})
	return p
}

// startLocked runs start under the shared lock until the started sidecar
// holds its inotify instances, unless this process has lowered the limit
// for it.
func startLocked(tb testing.TB, start func() *Proc) *Proc {
	tb.Helper()
	loweredMu.Lock()
	own := lowered
	loweredMu.Unlock()
	if own {
		return start()
	}
	unlock := lockInotify(tb, syscall.LOCK_SH)
	defer unlock()
	p := start()
	deadline := time.Now().Add(StartTimeout)
	for InotifyInstances(tb, p.Pid()) < sidecarInotify && time.Now().Before(deadline) {
		select {
		case <-p.done:
			return p // exited: its test sees why
		case <-time.After(time.Millisecond):
		}
	}
	return p
}

//go:build !linux

package sidecartest

import "testing"

// Only Linux has inotify's machine-wide queue limit: there is nothing to
// keep other tests' sidecars away from.
func startLocked(_ testing.TB, start func() *Proc) *Proc { return start() }

// MustLowerQueuedEvents skips: fs.inotify.max_queued_events is Linux's.
func MustLowerQueuedEvents(tb testing.TB, _ int, _ func() *Proc) *Proc {
	tb.Helper()
	tb.Skip("fs.inotify.max_queued_events is Linux's")
	return nil
}

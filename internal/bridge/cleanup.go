package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/metrics"
)

// cleaner runs every app's cleanup when it is due, and one app's at once
// when asked. It leaves alone the requests being handled (holds) and says
// after each run that folders may have gone (cleaned).
type cleaner struct {
	apps  *sync.Map // the Bridge's: name -> *app
	holds func(abs string) bool
	// backlog says whether requests wait for a handler: an app's first
	// cleanup waits for that too (firstCleanupWait at most).
	backlog func() bool
	cleaned func()
	metrics *metrics.Metrics
	logger  *slog.Logger
	// wake tells loop that a schedule changed.
	wake chan struct{}
}

func newCleaner(apps *sync.Map, holds func(abs string) bool, backlog func() bool, cleaned func(), m *metrics.Metrics, logger *slog.Logger) *cleaner {
	return &cleaner{apps: apps, holds: holds, backlog: backlog, cleaned: cleaned, metrics: m, logger: logger, wake: make(chan struct{}, 1)}
}

// firstCleanupWait bounds how long a new app's first periodic cleanup
// waits for intake to take what the registration's scan found, and for
// the requests waiting for a handler to be handed out.
const firstCleanupWait = time.Minute

// backlogPoll is how often a first cleanup held back by a backlog looks
// whether it is served.
const backlogPoll = 50 * time.Millisecond

// appCleanup is one app's periodic cleanup. Its fields are guarded by mu,
// which also keeps two runs of one app from overlapping.
type appCleanup struct {
	mu       sync.Mutex
	expiry   time.Duration
	interval time.Duration
	next     time.Time
	last     cleanup.Stats
	// scanned is set once intake has taken what the app's first scan
	// found: the periodic runs wait for it, or for unscannedUntil, so
	// that the first does not read every request of a backlog that
	// intake is about to hold (held requests are not read), competing
	// with serving it. Until unscannedUntil they also wait while
	// requests wait for a handler (backlog): the requests answered
	// meanwhile are not read (the dispatcher hands their created time
	// to the app's Known), but the run still stats every file and asks
	// the dispatcher's lock about each request, which cost 1-3 µs of
	// the sidecar's CPU per request over 20,000 pending (measured
	// without this wait, docs/performance.md). Requests in flight do
	// not hold it back: a handler may keep them for long. The bound is
	// for a flood that never lets intake's queue or the backlog empty,
	// and for an app whose first registration failed before its scan
	// began.
	scanned        bool
	unscannedUntil time.Time
}

// set applies an app's cleanup settings; zero keeps what is set. A
// new app's first run is due at once, as syft-event cleans on start
// (once intake has taken what its first scan found: scanned).
func (c *cleaner) set(a *app, expiry, interval time.Duration) {
	a.cleanup.mu.Lock()
	if expiry > 0 {
		a.cleanup.expiry = expiry
	}
	if interval > 0 && interval != a.cleanup.interval {
		a.cleanup.interval = interval
		a.cleanup.next = time.Now()
	}
	a.cleanup.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// scanned lets a's periodic cleanup run, intake having taken what its
// first scan found.
func (c *cleaner) scanned(a *app) {
	a.cleanup.mu.Lock()
	a.cleanup.scanned = true
	a.cleanup.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// loop runs each app's cleanup when it is due.
func (c *cleaner) loop(ctx context.Context) {
	wakeLoop(ctx, c.wake, func() time.Duration { return c.step(ctx) })
}

// step runs the cleanups that are due and ready, and says how long until
// it should look again.
func (c *cleaner) step(ctx context.Context) time.Duration {
	next := time.Now().Add(time.Hour)
	c.apps.Range(func(_, v any) bool {
		a := v.(*app)
		a.cleanup.mu.Lock()
		now := time.Now()
		periodic := a.cleanup.interval > 0
		bounded := !now.Before(a.cleanup.unscannedUntil)
		due, at := periodic && !now.Before(a.cleanup.next), a.cleanup.next
		ready := bounded || a.cleanup.scanned && !(due && c.backlog())
		due = due && ready
		switch {
		case ready:
		case a.cleanup.scanned:
			at = now.Add(backlogPoll) // the backlog may be served by then
		case at.Before(a.cleanup.unscannedUntil):
			at = a.cleanup.unscannedUntil
		}
		a.cleanup.mu.Unlock()
		if due {
			c.run(a, 0)
			a.cleanup.mu.Lock()
			at = a.cleanup.next
			a.cleanup.mu.Unlock()
		}
		if periodic && at.Before(next) {
			next = at
		}
		return ctx.Err() == nil
	})
	return time.Until(next)
}

// run runs a's cleanup now and records it. A positive expiry overrides
// the app's for this run.
func (c *cleaner) run(a *app, expiry time.Duration) cleanup.Stats {
	a.cleanup.mu.Lock()
	defer a.cleanup.mu.Unlock()
	if expiry <= 0 {
		expiry = a.cleanup.expiry
	}
	run := &cleanup.Cleaner{
		Root:   a.root,
		Expiry: expiry,
		Busy: func(rel string) bool {
			return c.holds(filepath.Join(a.rpcDir, filepath.FromSlash(rel))) // as the watcher names it
		},
		Logger: c.logger.With("app", a.name),
		Known:  a.known,
	}
	st := run.Run(time.Now())
	// The run may have taken idle sender folders away with their
	// .syftkeep; the next response in one of them puts it back.
	c.cleaned()
	a.cleanup.last = st
	a.cleanup.next = st.LastCleanup.Add(a.cleanup.interval)
	m := c.metrics
	m.CleanupRuns.WithLabelValues(a.name).Inc()
	m.CleanupErrors.WithLabelValues(a.name).Add(float64(st.Errors))
	for kind, n := range st.Removed {
		m.CleanupFilesDeleted.WithLabelValues(a.name, kind).Add(float64(n))
	}
	if st.RequestsDeleted+st.ResponsesDeleted+st.Errors > 0 {
		c.logger.Info("cleanup", "app", a.name, "requests_deleted", st.RequestsDeleted, "responses_deleted", st.ResponsesDeleted, "errors", st.Errors)
	}
	return st
}

// CleanupStats is what the gRPC calls report for an app.
type CleanupStats struct {
	cleanup.Stats
	Expiry, Interval time.Duration
	Running          bool
}

// now runs the named app's cleanup at once; a positive expiry overrides
// the app's for this run.
func (c *cleaner) now(name string, expiry time.Duration) (CleanupStats, error) {
	a, err := c.served(name)
	if err != nil {
		return CleanupStats{}, err
	}
	st := c.run(a, expiry)
	return c.stats(a, st), nil
}

// last reports the named app's last cleanup.
func (c *cleaner) last(name string) (CleanupStats, error) {
	a, err := c.served(name)
	if err != nil {
		return CleanupStats{}, err
	}
	a.cleanup.mu.Lock()
	st := a.cleanup.last
	a.cleanup.mu.Unlock()
	return c.stats(a, st), nil
}

func (c *cleaner) stats(a *app, st cleanup.Stats) CleanupStats {
	a.cleanup.mu.Lock()
	defer a.cleanup.mu.Unlock()
	return CleanupStats{Stats: st, Expiry: a.cleanup.expiry, Interval: a.cleanup.interval, Running: a.cleanup.interval > 0}
}

// ErrUnknownApp means no handler has registered the app in this run.
var ErrUnknownApp = fmt.Errorf("app not served")

// served returns the named app, if a handler has registered it.
func (c *cleaner) served(name string) (*app, error) {
	v, ok := c.apps.Load(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (no handler registered it since the sidecar started)", ErrUnknownApp, name)
	}
	return v.(*app), nil
}

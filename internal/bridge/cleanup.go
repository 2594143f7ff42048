package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
)

// appCleanup is one app's periodic cleanup. Its fields are guarded by mu,
// which also keeps two runs of one app from overlapping.
type appCleanup struct {
	mu       sync.Mutex
	expiry   time.Duration
	interval time.Duration
	next     time.Time
	last     cleanup.Stats
}

// setCleanup applies an app's cleanup settings; zero keeps what is set. A
// new app's first run is due at once, as syft-event cleans on start.
func (b *Bridge) setCleanup(a *app, expiry, interval time.Duration) {
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
	case b.cleanWake <- struct{}{}:
	default:
	}
}

// cleanLoop runs each app's cleanup when it is due.
func (b *Bridge) cleanLoop(ctx context.Context) {
	wakeLoop(ctx, b.cleanWake, func() time.Duration {
		next := time.Now().Add(time.Hour)
		b.apps.Range(func(_, v any) bool {
			a := v.(*app)
			a.cleanup.mu.Lock()
			due, at := a.cleanup.interval > 0 && !time.Now().Before(a.cleanup.next), a.cleanup.next
			a.cleanup.mu.Unlock()
			if due {
				b.clean(a, 0)
				a.cleanup.mu.Lock()
				at = a.cleanup.next
				a.cleanup.mu.Unlock()
			}
			if a.cleanup.interval > 0 && at.Before(next) {
				next = at
			}
			return ctx.Err() == nil
		})
		return time.Until(next)
	})
}

// clean runs a's cleanup now and records it. A positive expiry overrides
// the app's for this run.
func (b *Bridge) clean(a *app, expiry time.Duration) cleanup.Stats {
	a.cleanup.mu.Lock()
	defer a.cleanup.mu.Unlock()
	if expiry <= 0 {
		expiry = a.cleanup.expiry
	}
	c := &cleanup.Cleaner{
		Root:   a.root,
		Expiry: expiry,
		Busy: func(rel string) bool {
			return b.d.holds(filepath.Join(a.rpcDir, filepath.FromSlash(rel))) // as the watcher names it
		},
		Logger: b.logger.With("app", a.name),
	}
	st := c.Run(time.Now())
	// The run may have taken idle sender folders away with their
	// .syftkeep; the next response in one of them puts it back.
	b.w.keeps.forget()
	a.cleanup.last = st
	a.cleanup.next = st.LastCleanup.Add(a.cleanup.interval)
	m := b.metrics
	m.CleanupRuns.WithLabelValues(a.name).Inc()
	m.CleanupErrors.WithLabelValues(a.name).Add(float64(st.Errors))
	for kind, n := range st.Removed {
		m.CleanupFilesDeleted.WithLabelValues(a.name, kind).Add(float64(n))
	}
	if st.RequestsDeleted+st.ResponsesDeleted+st.Errors > 0 {
		b.logger.Info("cleanup", "app", a.name, "requests_deleted", st.RequestsDeleted, "responses_deleted", st.ResponsesDeleted, "errors", st.Errors)
	}
	return st
}

// CleanupStats is what the gRPC calls report for an app.
type CleanupStats struct {
	cleanup.Stats
	Expiry, Interval time.Duration
	Running          bool
}

// CleanNow runs the named app's cleanup at once; a positive expiry
// overrides the app's for this run.
func (b *Bridge) CleanNow(name string, expiry time.Duration) (CleanupStats, error) {
	a, err := b.servedApp(name)
	if err != nil {
		return CleanupStats{}, err
	}
	st := b.clean(a, expiry)
	return b.cleanupStats(a, st), nil
}

// LastCleanup reports the named app's last cleanup.
func (b *Bridge) LastCleanup(name string) (CleanupStats, error) {
	a, err := b.servedApp(name)
	if err != nil {
		return CleanupStats{}, err
	}
	a.cleanup.mu.Lock()
	st := a.cleanup.last
	a.cleanup.mu.Unlock()
	return b.cleanupStats(a, st), nil
}

func (b *Bridge) cleanupStats(a *app, st cleanup.Stats) CleanupStats {
	a.cleanup.mu.Lock()
	defer a.cleanup.mu.Unlock()
	return CleanupStats{Stats: st, Expiry: a.cleanup.expiry, Interval: a.cleanup.interval, Running: a.cleanup.interval > 0}
}

// ErrUnknownApp means no handler has registered the app in this run.
var ErrUnknownApp = fmt.Errorf("app not served")

func (b *Bridge) servedApp(name string) (*app, error) {
	v, ok := b.apps.Load(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (no handler registered it since the sidecar started)", ErrUnknownApp, name)
	}
	return v.(*app), nil
}

package bridge

import (
	"context"
	"errors"
	"io/fs"
	"syscall"
	"time"

	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// Backoff of a response write that failed, such as on a full disk: short
// at first, so that a reply is on disk within seconds of space coming back.
const (
	rewriteMinBackoff = 100 * time.Millisecond
	rewriteMaxBackoff = 2 * time.Second
)

// rewrite is a response whose write failed, waiting to be tried again.
type rewrite struct {
	j       writeJob
	err     error // the first failure
	due     time.Time
	backoff time.Duration
}

// wrote settles a job after its write: done, or kept for another try. A
// reply is never dropped because the disk was full for a while: dropping
// it would leave the request unanswered until the next reconcile, which
// would run it through the handler a second time.
func (b *Bridge) wrote(ctx context.Context, j writeJob, err error) {
	if err != nil && retryable(err) {
		select {
		case b.rewrites <- rewrite{j: j, err: err, due: time.Now().Add(rewriteMinBackoff), backoff: rewriteMinBackoff}:
			return
		case <-ctx.Done():
		}
	}
	if err != nil {
		b.logger.Warn("write response", "path", j.rel, "err", err)
	}
	b.d.written(j.abs)
}

// retryable says whether a failed write may succeed later: a full disk or
// quota, an I/O error, a read-only remount, no permission yet. A request
// folder that is gone, a link in the way or a name too long stays so.
func retryable(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return !errors.Is(errno, fs.ErrNotExist) && errno != syscall.ENOTDIR && errno != syscall.ELOOP && errno != syscall.ENAMETOOLONG
}

// rewriteLoop holds the responses whose write failed and tries each again
// with a backoff that doubles to rewriteMaxBackoff, until it is written or
// its request has expired (the sender has stopped waiting). It writes them
// itself, so that it never waits on the writers that hand it jobs.
func (b *Bridge) rewriteLoop(ctx context.Context) {
	var (
		waiting []rewrite
		buf     []byte
		timer   = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	arm := func() {
		timer.Stop()
		if len(waiting) == 0 {
			return
		}
		next := waiting[0].due
		for _, r := range waiting[1:] {
			if r.due.Before(next) {
				next = r.due
			}
		}
		timer.Reset(time.Until(next))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-b.rewrites:
			if len(waiting) == 0 {
				b.logger.Warn("response writes failing; keeping the replies and retrying", "path", r.j.rel, "err", r.err)
			}
			waiting = append(waiting, r)
			b.metrics.WritesWaiting.Set(float64(len(waiting)))
			arm()
			continue
		case <-timer.C:
			if len(waiting) == 0 {
				continue
			}
		}
		now := time.Now()
		kept := waiting[:0]
		for _, r := range waiting {
			if now.Before(r.due) {
				kept = append(kept, r)
				continue
			}
			b.metrics.WriteRetries.Inc()
			var err error
			buf, err = b.writeResponse(r.j, buf[:0])
			expires := r.j.expires
			if expires.IsZero() {
				expires = r.j.seen.Add(syftrpc.DefaultExpiry)
			}
			expired := now.After(expires)
			if err != nil && retryable(err) && !expired {
				r.backoff = min(2*r.backoff, rewriteMaxBackoff)
				r.due = now.Add(r.backoff)
				kept = append(kept, r)
				continue
			}
			if err != nil {
				b.logger.Warn("write response: giving up", "path", r.j.rel, "err", err, "expired", expired)
			}
			b.d.written(r.j.abs)
		}
		clear(waiting[len(kept):])
		waiting = kept
		b.metrics.WritesWaiting.Set(float64(len(waiting)))
		if len(waiting) == 0 {
			b.logger.Info("response writes recovered")
		}
		arm()
	}
}

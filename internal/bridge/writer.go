package bridge

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// writer writes the responses that the dispatcher and intake decide as
// {id}.response files beside their requests, on a few goroutines, keeps
// those whose write failed for another try, and reports each one written
// (or given up) through done, which releases its request.
type writer struct {
	owner   string // the responses' sender
	logger  *slog.Logger
	metrics *metrics.Metrics
	// done releases requests whose responses are settled, and notes each
	// for its app's cleanup under that app's lock, which every request of
	// the app passes: a writer that finds more jobs waiting hands it
	// several at once (maxRelease).
	done  func(abs ...string)
	keeps senderKeeps // sender folders given a .syftkeep (keep.go)

	ctx  context.Context
	jobs chan writeJob
	// busy counts the writers writing now (idle).
	busy atomic.Int32
	// inline is held by the one caller of writeHere at a time; inlineBuf
	// is its buffer.
	inline    sync.Mutex
	inlineBuf []byte
	// rewrites takes the responses whose write failed, to try again.
	rewrites chan rewrite
}

func newWriter(owner string, m *metrics.Metrics, logger *slog.Logger, done func(abs ...string)) *writer {
	return &writer{owner: owner, metrics: m, logger: logger, done: done, jobs: make(chan writeJob, 1024), rewrites: make(chan rewrite, 64)}
}

// start runs n writers and the loop that retries failed writes, until ctx
// ends.
func (w *writer) start(ctx context.Context, wg *sync.WaitGroup, n int) {
	w.ctx = ctx
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.writeLoop(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.rewriteLoop(ctx) }()
}

// writeJob is one response to write.
type writeJob struct {
	root    *safefs.Root
	rel     string // request path relative to root
	abs     string // request path, to release from the dispatcher afterwards
	id      string
	url     string
	expires time.Time
	seen    time.Time
	m       *metrics.Endpoint // nil when the endpoint is unknown

	code    int
	headers map[string]string
	body    []byte
}

// write queues response jobs for the writers.
func (w *writer) write(jobs ...writeJob) {
	for i, j := range jobs {
		select {
		case w.jobs <- j:
		case <-w.ctx.Done():
			for _, j := range jobs[i:] {
				w.done(j.abs)
			}
			return
		}
	}
}

// idle says whether no writer has anything to do.
func (w *writer) idle() bool { return len(w.jobs) == 0 && w.busy.Load() == 0 }

// writeHere writes j on the caller's goroutine, as a writer would, and
// reports true; false, having done nothing, when another caller is doing
// so already. See stream.writeReply for when it is used.
func (w *writer) writeHere(j writeJob) bool {
	if !w.inline.TryLock() {
		return false
	}
	defer w.inline.Unlock()
	var err error
	w.inlineBuf, err = w.writeResponse(j, w.inlineBuf[:0])
	w.wrote(w.ctx, j, err)
	return true
}

// maxRelease is the most settled requests a writer releases at once.
const maxRelease = 64

// writeLoop writes the jobs it takes. Under load it releases their
// requests in batches: while more jobs wait, it keeps the ones written and
// releases them once none waits or maxRelease are kept, so that an app's
// cleanup notes take its lock once a batch, not once a response. Nothing
// waits on a release but memory, drain (allWritten) and the cleanup, and
// the batch ends as soon as the writers catch up.
func (w *writer) writeLoop(ctx context.Context) {
	var (
		buf     []byte
		settled []string
	)
	for {
		select {
		case <-ctx.Done():
			w.done(settled...)
			return
		case j := <-w.jobs:
			w.busy.Add(1)
			var err error
			buf, err = w.writeResponse(j, buf[:0])
			if w.settle(ctx, j, err) {
				settled = append(settled, j.abs)
			}
			if len(settled) > 0 && (len(settled) == maxRelease || len(w.jobs) == 0) {
				w.done(settled...)
				clear(settled)
				settled = settled[:0]
			}
			w.busy.Add(-1)
		}
	}
}

// writeResponse writes {id}.response beside the request. A response that
// exists already is never replaced: the first one written stands. The
// error is a write that failed; wrote decides what follows.
func (w *writer) writeResponse(j writeJob, buf []byte) ([]byte, error) {
	now := time.Now()
	expires := j.expires
	if expires.IsZero() {
		expires = now.Add(syftrpc.DefaultExpiry)
	}
	resp := syftrpc.Response{
		ID:         j.id,
		Sender:     w.owner,
		URL:        j.url,
		Body:       j.body,
		Headers:    j.headers,
		Created:    now.UTC(),
		Expires:    expires,
		StatusCode: j.code,
	}
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	buf = resp.AppendJSON(buf)
	dir := path.Dir(j.rel)
	err := j.root.CreateNew(strings.TrimSuffix(j.rel, rpcpath.RequestExt)+rpcpath.ResponseExt, buf, 0o644)
	if err == nil || errors.Is(err, safefs.ErrExist) {
		w.keeps.keepSenderFolder(j.root, dir)
	}
	switch {
	case errors.Is(err, safefs.ErrExist):
		w.logger.Debug("response exists, kept", "path", j.rel)
		return buf, nil
	case err != nil:
		w.metrics.WriteErrors.Inc()
		return buf, err
	}
	if j.m != nil {
		j.m.Written(j.code).Inc()
		j.m.Duration.Observe(time.Since(j.seen).Seconds())
	}
	return buf, nil
}

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

// wrote settles a job after its write and releases its request if it is
// done.
func (w *writer) wrote(ctx context.Context, j writeJob, err error) {
	if w.settle(ctx, j, err) {
		w.done(j.abs)
	}
}

// settle decides a job after its write: done (true), or kept for another
// try. A reply is never dropped because the disk was full for a while:
// dropping it would leave the request unanswered until the next
// reconcile, which would run it through the handler a second time.
func (w *writer) settle(ctx context.Context, j writeJob, err error) bool {
	if err != nil && retryable(err) {
		select {
		case w.rewrites <- rewrite{j: j, err: err, due: time.Now().Add(rewriteMinBackoff), backoff: rewriteMinBackoff}:
			return false
		case <-ctx.Done():
		}
	}
	if err != nil {
		w.logger.Warn("write response", "path", j.rel, "err", err)
	}
	return true
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
func (w *writer) rewriteLoop(ctx context.Context) {
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
		case r := <-w.rewrites:
			if len(waiting) == 0 {
				w.logger.Warn("response writes failing; keeping the replies and retrying", "path", r.j.rel, "err", r.err)
			}
			waiting = append(waiting, r)
			w.metrics.WritesWaiting.Set(float64(len(waiting)))
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
			w.metrics.WriteRetries.Inc()
			var err error
			buf, err = w.writeResponse(r.j, buf[:0])
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
				w.logger.Warn("write response: giving up", "path", r.j.rel, "err", err, "expired", expired)
			}
			w.done(r.j.abs)
		}
		clear(waiting[len(kept):])
		waiting = kept
		w.metrics.WritesWaiting.Set(float64(len(waiting)))
		if len(waiting) == 0 {
			w.logger.Info("response writes recovered")
		}
		arm()
	}
}

package bridge

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

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
func (b *Bridge) write(jobs ...writeJob) {
	for i, j := range jobs {
		select {
		case b.writes <- j:
		case <-b.ctx.Done():
			for _, j := range jobs[i:] {
				b.d.written(j.abs)
			}
			return
		}
	}
}

func (b *Bridge) writeLoop(ctx context.Context) {
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-b.writes:
			var err error
			buf, err = b.writeResponse(j, buf[:0])
			b.wrote(ctx, j, err)
		}
	}
}

// flushWrites waits until every response decided so far is on disk. The
// dispatcher counts them from the moment they are decided, not queued: a
// reply that completed the drain may not have reached the queue yet.
func (b *Bridge) flushWrites(ctx context.Context) error {
	select {
	case <-b.d.allWritten():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeResponse writes {id}.response beside the request. A response that
// exists already is never replaced: the first one written stands. The
// error is a write that failed; wrote decides what follows.
func (b *Bridge) writeResponse(j writeJob, buf []byte) ([]byte, error) {
	now := time.Now()
	expires := j.expires
	if expires.IsZero() {
		expires = now.Add(syftrpc.DefaultExpiry)
	}
	resp := syftrpc.Response{
		ID:         j.id,
		Sender:     b.cfg.Owner,
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
	stem := strings.TrimSuffix(path.Base(j.rel), ".request")
	err := j.root.CreateNew(path.Join(dir, syftrpc.ResponseName(stem)), buf, 0o644)
	if err == nil || errors.Is(err, safefs.ErrExist) {
		b.keeps.keepSenderFolder(j.root, dir)
	}
	switch {
	case errors.Is(err, safefs.ErrExist):
		b.logger.Debug("response exists, kept", "path", j.rel)
		return buf, nil
	case err != nil:
		b.metrics.WriteErrors.Inc()
		return buf, err
	}
	if j.m != nil {
		j.m.Written(j.code).Inc()
		j.m.Duration.Observe(time.Since(j.seen).Seconds())
	}
	return buf, nil
}

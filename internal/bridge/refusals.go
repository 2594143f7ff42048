package bridge

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLogEvery is how often each refusal reason is logged at info: a
// sender who keeps writing bad requests must not flood the log, and an
// operator must still see that, and why, requests are refused.
const refusalLogEvery = time.Minute

// refusals logs refused and ignored request files at info, one line per
// reason per refusalLogEvery, with the count since the last line and the
// latest example.
type refusals struct {
	logger *slog.Logger
	mu     sync.Mutex
	seen   map[string]*refusal
}

type refusal struct {
	last time.Time
	n    int
}

func newRefusals(logger *slog.Logger) *refusals {
	return &refusals{logger: logger, seen: make(map[string]*refusal)}
}

// note records one refusal for reason, with what to log about it.
func (r *refusals) note(reason string, attrs ...any) {
	r.mu.Lock()
	f := r.seen[reason]
	if f == nil {
		f = &refusal{}
		r.seen[reason] = f
	}
	f.n++
	now := time.Now()
	if now.Sub(f.last) < refusalLogEvery {
		r.mu.Unlock()
		return
	}
	n := f.n
	f.last, f.n = now, 0
	r.mu.Unlock()
	r.logger.Info("request refused", append([]any{"reason", reason, "count", n}, attrs...)...)
}

package bridge

import (
	"sync/atomic"
	"time"
)

// StuckAfter is how long request intake may spend on one file event before
// /healthz fails. Intake never waits on a file's content (it opens without
// blocking and reads only regular files, bounded); what can still hold it
// is a hung filesystem, or response writers stuck on one, and a liveness
// probe that restarts the sidecar is the way out that an operator sees.
const StuckAfter = 30 * time.Second

// stall tracks how long a loop has been busy with its current item.
type stall struct {
	since atomic.Int64 // unix nanoseconds the current item began; 0 when idle
}

func (s *stall) begin() { s.since.Store(time.Now().UnixNano()) }
func (s *stall) end()   { s.since.Store(0) }

// busy is how long the current item has taken by now; 0 when idle.
func (s *stall) busy(now time.Time) time.Duration {
	t := s.since.Load()
	if t == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, t))
}

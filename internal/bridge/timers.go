package bridge

import (
	"context"
	"time"
)

// Timers: one heap for expiries, deadlines and grace periods, kept by the
// dispatcher and served by one goroutine (Bridge.timerLoop). A request's
// timers leave the heap when it is answered, so the heap holds only what can
// still fire, however long the deadlines and expiries are.
const (
	timerExpiry = iota
	timerDeadline
	timerGrace
)

type timer struct {
	at    time.Time
	kind  int
	p     *pending
	app   *app
	index int // position in the heap; -1 once out of it
}

type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// wakeLoop calls step each time wake signals or the delay that step last
// returned has passed (an hour before the first call), until ctx ends.
func wakeLoop(ctx context.Context, wake <-chan struct{}, step func() time.Duration) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		// Stop and drain, so that Reset starts afresh whether or not the
		// timer had fired.
		next := step()
		t.Stop()
		select {
		case <-t.C:
		default:
		}
		t.Reset(next)
	}
}

package bridge

import (
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

// resetTimer makes t fire after d, whether or not it had fired and been
// drained.
func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

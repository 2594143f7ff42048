package bridge

import (
	"container/heap"
	"time"
)

// Timers: one heap for expiries, deadlines and grace periods, served by one
// goroutine (dispatcher.timerLoop). A request's timers leave the heap when it
// is done, so the heap holds only what can still fire, however long the
// deadlines and expiries are.
const (
	timerExpiry = iota
	timerDeadline
	timerGrace
	timerRoute
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

// schedule adds t and wakes the timer loop if t is now the earliest.
func (d *dispatcher) schedule(t *timer) {
	heap.Push(&d.timers, t)
	if t.index == 0 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// cancel takes *t out of the heap, if it is there, and clears it.
func (d *dispatcher) cancel(t **timer) {
	if *t != nil && (*t).index >= 0 {
		heap.Remove(&d.timers, (*t).index)
	}
	*t = nil
}

// watchExpiry makes sure p is answered 419 if it is still waiting when it
// expires.
func (d *dispatcher) watchExpiry(p *pending) {
	if p.expiry == nil {
		p.expiry = &timer{at: p.req.Expires, kind: timerExpiry, p: p}
		d.schedule(p.expiry)
	}
}

// setDeadline (re)arms p's deadline at p.deadline.
func (d *dispatcher) setDeadline(p *pending) {
	d.cancel(&p.deadlineT)
	p.deadlineT = &timer{at: p.deadline, kind: timerDeadline, p: p}
	d.schedule(p.deadlineT)
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

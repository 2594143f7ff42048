package sidecar

import (
	"cmp"
	"context"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// subscription is one Watch or Listen. It belongs to the Client, not to a
// stream: its cursor and its queue outlive reconnects, which is what lets a
// new stream resume where the last one stopped and lets events queued before
// a reconnect still reach the callback, once each.
type subscription struct {
	id       string
	watch    *pb.Watch  // one of watch and listen is set, as sent without a cursor
	listen   *pb.Listen //
	onFile   func(context.Context, FileEvent)
	onListen func(name, data string)

	// Set by addSub.
	max   int
	log   *slog.Logger
	wake  chan struct{} // holds one token when the queue may have something
	stopc chan struct{} // closed when the subscription is removed

	mu sync.Mutex
	// last is the newest event taken from the sidecar (queued, delivered or
	// dropped as missed): the resume point, and the bar an event must pass
	// so that one that a resume sends again is not delivered twice.
	last Cursor
	// resuming is set from a Watch or Listen sent with a cursor until its
	// Subscribed, which comes after the replay. The events that arrive
	// meanwhile are held and then taken in cursor order: a live event may
	// overtake the replay (the sidecar makes the subscription live before
	// it replays), and taken first it would make the replay look like
	// duplicates.
	resuming   bool
	held       []heldEvent   // at most max
	heldMissed *MissedEvents // what the resume lost, told before the replay
	// queue holds at most max events. Notices of loss never sit side by
	// side (the later merges into the earlier), so they are bounded too.
	queue  []delivery
	events int // events in queue
	// gap is the loss not yet queued: events dropped because the queue
	// held max events. It is queued behind them once there is room, or
	// when the queue empties, so it reaches the app in its place.
	gap *MissedEvents
}

type heldEvent struct {
	c Cursor
	d delivery
}

// delivery is one callback to make: an event, or a loss.
type delivery struct {
	file       FileEvent
	name, data string
	missed     *MissedEvents
}

// addSub adds sub and, while Run runs, starts its goroutine. c.mu is held.
func (c *Client) addSub(sub *subscription) {
	sub.max = c.eventQueue
	sub.log = c.log.With("subscription", sub.id)
	sub.wake = make(chan struct{}, 1)
	sub.stopc = make(chan struct{})
	c.subs = append(c.subs, sub)
	c.subByID[sub.id] = sub
	if c.running {
		c.startSub(sub)
	}
}

// startSub runs sub's callbacks until Run stops or sub is removed. c.mu is
// held, and c.running is true, so subWG.Wait in stopSubs has not begun.
func (c *Client) startSub(sub *subscription) {
	c.subWG.Go(func() { sub.run(c.runCtx, c.onMissed) })
}

// removeSub drops sub and stops its goroutine. c.mu is held.
func (c *Client) removeSub(sub *subscription) {
	delete(c.subByID, sub.id)
	for i, s := range c.subs {
		if s == sub {
			c.subs = append(c.subs[:i:i], c.subs[i+1:]...)
			break
		}
	}
	close(sub.stopc)
}

// stopSubs waits for the subscriptions' goroutines once Run's context
// ended. Events still queued are not delivered.
func (c *Client) stopSubs() {
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	c.subWG.Wait()
}

// sub returns the subscription with id, or nil once it was removed.
func (c *Client) sub(id string) *subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subByID[id]
}

// request is the Watch or Listen that (re)subscribes, resuming after the
// last event taken.
func (s *subscription) request() *pb.ConnectRequest {
	s.mu.Lock()
	after := s.last.proto()
	s.resuming, s.held, s.heldMissed = after != nil, nil, nil
	s.mu.Unlock()
	if s.watch != nil {
		w := proto.Clone(s.watch).(*pb.Watch)
		w.After = after
		return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Watch{Watch: w}}
	}
	l := proto.Clone(s.listen).(*pb.Listen)
	l.After = after
	return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Listen{Listen: l}}
}

// subscribed ends a resume's holding (the replay is in), and takes the
// sidecar's cursor as the resume point when the subscription has none yet, so that a reconnect before the first event
// still asks for what happened meanwhile. A cursor of another run means the
// sidecar restarted (it says so with a MissedEvents): from then on the
// subscription follows the new run, and a later reconnect does not report
// the same restart again.
func (s *subscription) subscribed(c Cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release()
	if s.last.Run == "" || s.last.Run != c.Run {
		s.last = c
	}
}

// offer queues d, the event at cursor c. It reports false for an event that
// is not after the last one taken: a resume that overlapped what this
// client already has.
func (s *subscription) offer(c Cursor, d delivery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resuming {
		if len(s.held) < s.max {
			s.held = append(s.held, heldEvent{c, d})
			return true
		}
		// No Subscribed in sight (the sidecar may drop it when the stream
		// is full): stop holding rather than grow.
		s.release()
	}
	return s.take(c, d)
}

// release ends holding and takes the held events in cursor order. They
// are all of one run: the one resumed, or after a restart the new one.
// s.mu is held.
func (s *subscription) release() {
	held, m := s.held, s.heldMissed
	s.resuming, s.held, s.heldMissed = false, nil, nil
	if m != nil {
		s.lost(*m)
	}
	slices.SortStableFunc(held, func(a, b heldEvent) int { return cmp.Compare(a.c.Seq, b.c.Seq) })
	for _, h := range held {
		if !s.take(h.c, h.d) {
			s.log.Debug("dropping event delivered before", "run", h.c.Run, "seq", h.c.Seq)
		}
	}
}

// take queues d, the event at cursor c, unless it is not after the last
// one taken. s.mu is held.
func (s *subscription) take(c Cursor, d delivery) bool {
	if !c.after(s.last) {
		return false
	}
	s.last = c
	if s.events >= s.max {
		// Blocking here would hold up the stream, and with it the requests
		// and every other subscription: drop, and say exactly what.
		m := MissedEvents{ID: s.id, FromSeq: c.Seq, ToSeq: c.Seq, Reason: pb.MissedSlow}
		if s.gap == nil {
			s.gap = &m
		} else {
			merge(s.gap, m)
		}
		return true
	}
	s.flushGap()
	s.queue = append(s.queue, d)
	s.events++
	s.signal()
	return true
}

// missed queues a loss the sidecar reported, behind everything before it.
func (s *subscription) missed(m MissedEvents) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resuming {
		if s.heldMissed == nil {
			s.heldMissed = &m
		} else {
			merge(s.heldMissed, m)
		}
		return
	}
	s.lost(m)
}

// lost queues the loss m. s.mu is held.
func (s *subscription) lost(m MissedEvents) {
	if s.gap != nil {
		merge(s.gap, m)
		return
	}
	s.queueMissed(&m)
	s.signal()
}

// flushGap queues the pending loss, ahead of what comes after it. s.mu is
// held.
func (s *subscription) flushGap() {
	if s.gap != nil {
		s.queueMissed(s.gap)
		s.gap = nil
	}
}

// queueMissed queues a notice of loss, merged into the last one queued if
// no event separates them. s.mu is held.
func (s *subscription) queueMissed(m *MissedEvents) {
	if n := len(s.queue); n > 0 && s.queue[n-1].missed != nil {
		merge(s.queue[n-1].missed, *m)
		return
	}
	s.queue = append(s.queue, delivery{missed: m})
}

// merge adds the loss m to g, with no event delivered between them. The
// range is the span of both while both are known and of one run; a restart
// or an unknown range makes it unknown. A restart's reason wins: it says
// the most.
func merge(g *MissedEvents, m MissedEvents) {
	g.Restarted = g.Restarted || m.Restarted
	if g.Restarted || g.FromSeq == 0 || m.FromSeq == 0 {
		g.FromSeq, g.ToSeq = 0, 0
	} else {
		g.FromSeq, g.ToSeq = min(g.FromSeq, m.FromSeq), max(g.ToSeq, m.ToSeq)
	}
	if m.Restarted {
		g.Reason = m.Reason
	}
}

func (s *subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // a token is there already
	}
}

// next takes the first delivery. A loss that found no room is reported once
// the queue has emptied, so the app learns of it even if no event follows.
func (s *subscription) next() (delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		if s.gap == nil {
			return delivery{}, false
		}
		g := s.gap
		s.gap = nil
		return delivery{missed: g}, true
	}
	d := s.queue[0]
	s.queue[0] = delivery{}
	s.queue = s.queue[1:]
	if d.missed == nil {
		s.events--
	}
	return d, true
}

// run makes the callbacks, one at a time, in order.
func (s *subscription) run(ctx context.Context, onMissed func(MissedEvents)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopc:
			return
		case <-s.wake:
		}
		for {
			// Stopping or removal ends delivery between two callbacks.
			select {
			case <-ctx.Done():
				return
			case <-s.stopc:
				return
			default:
			}
			d, ok := s.next()
			if !ok {
				break
			}
			s.deliver(ctx, onMissed, d)
		}
	}
}

// deliver makes one callback. A panic is logged with its stack and
// swallowed, so that one bad event never stops the subscription.
func (s *subscription) deliver(ctx context.Context, onMissed func(MissedEvents), d delivery) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("event callback panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	switch {
	case d.missed != nil:
		m := *d.missed
		args := []any{"restarted", m.Restarted, "from_seq", m.FromSeq, "to_seq", m.ToSeq, "reason", m.Reason}
		if onMissed == nil {
			s.log.Warn("missed events: rescan what this subscription covers", args...)
			return
		}
		s.log.Debug("missed events", args...)
		onMissed(m)
	case s.onFile != nil:
		s.onFile(ctx, d.file)
	default:
		s.onListen(d.name, d.data)
	}
}

package bridge

import (
	"container/heap"
	"context"
	"fmt"
	"path"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Request states.
const (
	stateUnrouted = iota // its endpoint is not declared (yet)
	stateWaiting         // queued for a stream with free credit
	stateInFlight        // sent to a stream, no reply yet
	stateDone            // answered or dropped
)

// pending is one request from the moment it is read until its response is
// decided.
type pending struct {
	id      string
	abs     string // absolute path of the request file
	rel     string // path relative to the app's rpc folder
	epPath  string // endpoint named by the folder
	app     *app
	ep      *endpoint
	req     *syftrpc.Request
	seen    time.Time
	state   int
	attempt uint32

	stream    *stream
	deadline  time.Time
	deadlineT *timer   // in the heap while in flight
	expiry    *timer   // in the heap while waiting or unrouted
	next      *pending // a request with the same id, held until this one is done
}

// stream is one handler's Connect stream, as the dispatcher sees it.
type stream struct {
	id        uint64
	name      string
	send      chan *pb.ConnectResponse
	max       int
	inflight  int
	serves    []*endpoint
	deadlines map[*endpoint]time.Duration
	held      map[string]*pending // in flight here, by request id
	rr        int
	closed    bool
	// batch is how many Requests one message may carry (Register's
	// max_batch); set on the receiving goroutine, read on the sending one.
	batch atomic.Int32

	// ev carries file events, listener events and their notices; run is
	// the event log's run id, for their cursors.
	ev  chan *pb.ConnectResponse
	run string
}

// dispatcher owns who gets which request. Every field is guarded by mu;
// file writes are collected under the lock and done after it.
type dispatcher struct {
	b        *Bridge
	mu       sync.Mutex
	byID     map[string]*pending
	byPath   map[string]*pending
	timers   timerHeap
	wake     chan struct{}
	inflight int
	draining bool
	drained  chan struct{}
	// full is set when admit turned a request away for MaxPending; room
	// gets a signal once the backlog is down to half, for a rescan.
	full bool
	room chan struct{}
}

func newDispatcher(b *Bridge) *dispatcher {
	return &dispatcher{
		b:      b,
		byID:   make(map[string]*pending),
		byPath: make(map[string]*pending),
		wake:   make(chan struct{}, 1),
		room:   make(chan struct{}, 1),
	}
}

// admit says whether the intake may take one more request into memory. A
// request turned away stays on disk: the rescan after the backlog halves
// finds it.
func (d *dispatcher) admit() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.byPath) < d.b.cfg.MaxPending {
		return true
	}
	if !d.full {
		d.full = true
		d.b.logger.Info("backlog: holding the most requests allowed in memory; the rest stay on disk until half are answered", "max_pending", d.b.cfg.MaxPending)
	}
	return false
}

// submit takes a request that passed every check at intake.
func (d *dispatcher) submit(p *pending) {
	var jobs []writeJob
	d.mu.Lock()
	if _, ok := d.byPath[p.abs]; ok {
		d.mu.Unlock()
		return
	}
	d.byPath[p.abs] = p
	if first, ok := d.byID[p.id]; ok {
		// Another file carries the same id; replies name only the id, so
		// this one waits until that one is done.
		for first.next != nil {
			first = first.next
		}
		first.next = p
		p.state = stateUnrouted
		d.mu.Unlock()
		return
	}
	d.byID[p.id] = p
	jobs = d.route(p, jobs)
	d.mu.Unlock()
	d.b.write(jobs...)
}

// route finds p's endpoint and a stream for it, or queues it.
func (d *dispatcher) route(p *pending, jobs []writeJob) []writeJob {
	a := p.app
	if p.ep == nil {
		ep := a.endpoints[p.epPath]
		if ep == nil {
			if a.graceOver {
				return d.notFound(p, jobs)
			}
			p.state = stateUnrouted
			a.unrouted = append(a.unrouted, p)
			d.watchExpiry(p)
			return jobs
		}
		p.ep = ep
	}
	if time.Now().After(p.req.Expires) {
		return d.expire(p, jobs)
	}
	if !d.draining {
		if s := d.pick(p.ep); s != nil {
			return d.deliver(p, s, jobs)
		}
	}
	p.state = stateWaiting
	p.ep.queue = append(p.ep.queue, p)
	p.ep.waiting++
	p.ep.m.Waiting.Inc()
	d.watchExpiry(p)
	return jobs
}

// pick returns a stream serving ep with free credit, round robin.
func (d *dispatcher) pick(ep *endpoint) *stream {
	n := len(ep.streams)
	for i := 0; i < n; i++ {
		s := ep.streams[(ep.rr+i)%n]
		if s.inflight < s.max {
			ep.rr = (ep.rr + i + 1) % n
			return s
		}
	}
	return nil
}

func (d *dispatcher) deliver(p *pending, s *stream, jobs []writeJob) []writeJob {
	p.state = stateInFlight
	p.stream = s
	p.attempt++
	dl := s.deadlines[p.ep]
	p.deadline = time.Now().Add(dl)
	s.inflight++
	s.held[p.id] = p
	d.inflight++
	p.ep.m.InFlight.Inc()
	// Expiry matters only while a request waits; in flight, the deadline
	// rules.
	d.cancel(&p.expiry)
	d.setDeadline(p)
	r := p.req
	msg := &pb.Request{
		Id:       r.ID,
		Attempt:  p.attempt,
		App:      p.app.name,
		Endpoint: p.ep.path,
		Sender:   r.Sender,
		Url:      r.URL,
		Method:   r.Method,
		Headers:  r.Headers,
		Body:     r.Body,
		Created:  timestamppb.New(r.Created),
		Expires:  timestamppb.New(r.Expires),
		Deadline: timestamppb.New(p.deadline),
		Path:     p.relToDatasites(d.b),
	}
	if p.attempt > 1 {
		p.ep.m.Redeliver.Inc()
	}
	// Credits bound what is in flight to the channel's capacity, so this
	// never blocks; a full channel means the stream is gone or broken.
	select {
	case s.send <- &pb.ConnectResponse{Msg: &pb.ConnectResponse_Request{Request: msg}}:
	default:
		d.b.logger.Warn("stream send buffer full", "stream", s.id)
	}
	return jobs
}

// fill hands waiting requests to s while it has credit.
func (d *dispatcher) fill(s *stream, jobs []writeJob) []writeJob {
	if d.draining || s.closed {
		return jobs
	}
	for s.inflight < s.max {
		var p *pending
		for i := 0; i < len(s.serves) && p == nil; i++ {
			ep := s.serves[(s.rr+i)%len(s.serves)]
			if ep.waiting == 0 {
				continue
			}
			s.rr = (s.rr + i + 1) % len(s.serves)
			p = ep.pop()
		}
		if p == nil {
			return jobs
		}
		p.ep.m.Waiting.Dec()
		if time.Now().After(p.req.Expires) {
			jobs = d.expire(p, jobs)
			continue
		}
		jobs = d.deliver(p, s, jobs)
	}
	return jobs
}

func (ep *endpoint) pop() *pending {
	for len(ep.queue) > 0 {
		p := ep.queue[0]
		ep.queue[0] = nil
		ep.queue = ep.queue[1:]
		if p.state == stateWaiting {
			ep.waiting--
			return p
		}
	}
	return nil
}

// expire answers 419 for a request that expired before a handler took it.
func (d *dispatcher) expire(p *pending, jobs []writeJob) []writeJob {
	if p.ep != nil {
		p.ep.m.Expired.Inc()
	}
	return d.finish(p, jobs, 419, "Request expired")
}

// finish marks p done and queues its response. A request that shares p's
// id and was waiting for it goes on.
func (d *dispatcher) finish(p *pending, jobs []writeJob, code int, body string) []writeJob {
	jobs = append(jobs, d.done(p, code, nil, []byte(body)))
	return jobs
}

// notFound answers p 404: no handler declared its endpoint.
func (d *dispatcher) notFound(p *pending, jobs []writeJob) []writeJob {
	d.b.refused.note("no_handler", "path", p.abs, "code", 404, "app", p.app.name, "endpoint", p.epPath)
	return d.finish(p, jobs, 404, fmt.Sprintf("No handler for endpoint %s of app %s", p.epPath, p.app.name))
}

// done takes p out of every structure and returns its response job.
func (d *dispatcher) done(p *pending, code int, headers map[string]string, body []byte) writeJob {
	switch p.state {
	case stateWaiting:
		p.ep.waiting--
		p.ep.m.Waiting.Dec()
	case stateInFlight:
		s := p.stream
		delete(s.held, p.id)
		s.inflight--
		d.inflight--
		p.ep.m.InFlight.Dec()
		p.stream = nil
	}
	p.state = stateDone
	d.cancel(&p.expiry)
	d.cancel(&p.deadlineT)
	delete(d.byPath, p.abs)
	if d.full && len(d.byPath) <= d.b.cfg.MaxPending/2 {
		d.full = false
		select {
		case d.room <- struct{}{}:
		default:
		}
	}
	if p.next != nil {
		d.byID[p.id] = p.next
		next := p.next
		p.next = nil
		// Routed after the caller's lock section through a fresh timer, so
		// that route's own jobs are not lost here.
		d.schedule(&timer{kind: timerRoute, p: next})
	} else {
		delete(d.byID, p.id)
	}
	d.checkDrained()
	return p.job(d.b, code, headers, body)
}

// reply records a handler's answers (one Reply, or a ReplyBatch's), under
// one lock, and hands their files to the writers.
func (d *dispatcher) reply(s *stream, rs ...*pb.Reply) {
	var jobs []writeJob
	var notes []*pb.Error
	d.mu.Lock()
	for _, r := range rs {
		code := int(r.GetStatusCode())
		if code == 0 {
			code = 200
		}
		p := s.held[r.GetRequestId()]
		if p == nil || p.attempt != r.GetAttempt() {
			d.b.metrics.StaleReplies.Inc()
			notes = append(notes, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_STALE_REPLY, Message: "no such request in flight on this stream: dropped", RequestId: r.GetRequestId(), Attempt: r.GetAttempt()})
			continue
		}
		if code < 100 || code > 599 {
			notes = append(notes, &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INVALID_REPLY, Message: fmt.Sprintf("status code %d is outside 100-599", code), RequestId: p.id, Attempt: p.attempt})
			continue
		}
		body := r.Body
		if r.Body != nil && len(body) == 0 {
			body = []byte{} // present but empty: "" on disk, not null
		}
		jobs = append(jobs, d.done(p, code, r.GetHeaders(), body))
	}
	if len(jobs) > 0 {
		jobs = d.fill(s, jobs)
	}
	d.mu.Unlock()
	for _, n := range notes {
		s.notify(n)
	}
	d.b.write(jobs...)
}

// extend moves an in-flight request's deadline.
func (d *dispatcher) extend(s *stream, r *pb.ExtendDeadline) {
	by := r.GetExtendBy().AsDuration()
	d.mu.Lock()
	defer d.mu.Unlock()
	p := s.held[r.GetRequestId()]
	if p == nil || p.attempt != r.GetAttempt() {
		s.notify(&pb.Error{Code: pb.ErrorCode_ERROR_CODE_STALE_REPLY, Message: "no such request in flight on this stream: extension dropped", RequestId: r.GetRequestId(), Attempt: r.GetAttempt()})
		return
	}
	if by <= 0 || by > MaxDeadline {
		s.notify(&pb.Error{Code: pb.ErrorCode_ERROR_CODE_INVALID_REPLY, Message: fmt.Sprintf("extend_by %s is outside (0, %s]", by, MaxDeadline), RequestId: p.id, Attempt: p.attempt})
		return
	}
	p.deadline = time.Now().Add(by)
	d.setDeadline(p)
}

// credit changes how much a stream takes at once.
func (d *dispatcher) credit(s *stream, n uint32) {
	d.mu.Lock()
	s.max = clampCredit(n, s.max)
	jobs := d.fill(s, nil)
	d.mu.Unlock()
	d.b.write(jobs...)
}

func clampCredit(n uint32, current int) int {
	switch {
	case n == 0:
		return current
	case n > MaxInFlightLimit:
		return MaxInFlightLimit
	}
	return int(n)
}

// addStream makes s serve the given endpoints of a, sends the
// acknowledgement, and starts delivery. It reports whether the app's
// schema changed.
func (d *dispatcher) addStream(s *stream, a *app, eps []declared, credit uint32, ack *pb.Registered) (bool, error) {
	d.mu.Lock()
	changed := false
	if a.since.IsZero() {
		a.since = time.Now()
		d.schedule(&timer{at: a.since.Add(d.b.cfg.Grace), kind: timerGrace, app: a})
	}
	for _, de := range eps {
		ep := a.endpoints[de.path]
		if ep == nil {
			ep = &endpoint{app: a, path: de.path, m: d.b.metrics.ForEndpoint(a.name, de.path)}
			a.endpoints[de.path] = ep
			a.order = append(a.order, ep)
			changed = true
		}
		if de.schema != "" && de.schema != ep.schema {
			ep.schema = de.schema
			changed = true
		}
		if _, ok := s.deadlines[ep]; !ok {
			s.serves = append(s.serves, ep)
			ep.streams = append(ep.streams, s)
		}
		s.deadlines[ep] = de.deadline
	}
	s.max = clampCredit(credit, s.max)
	ack.MaxInFlight = uint32(s.max)
	// The acknowledgement goes first, so a handler never sees a request
	// for an app before the app's Registered.
	select {
	case s.send <- &pb.ConnectResponse{Msg: &pb.ConnectResponse_Registered{Registered: ack}}:
	default:
		// A handler that registers faster than it reads: refuse rather
		// than block every stream on this one.
		d.mu.Unlock()
		return false, errAckFull
	}

	var jobs []writeJob
	if changed {
		jobs = d.reroute(a, jobs)
	}
	jobs = d.fill(s, jobs)
	d.mu.Unlock()
	d.b.write(jobs...)
	return changed, nil
}

// reroute retries the requests of a that were waiting for an endpoint.
func (d *dispatcher) reroute(a *app, jobs []writeJob) []writeJob {
	held := a.unrouted
	a.unrouted = nil
	for _, p := range held {
		if p.state == stateUnrouted {
			jobs = d.route(p, jobs)
		}
	}
	return jobs
}

// removeStream takes s out of service; what it held goes to other streams
// or waits for one, with the next attempt number.
func (d *dispatcher) removeStream(s *stream) {
	d.mu.Lock()
	s.closed = true
	for _, ep := range s.serves {
		for i, o := range ep.streams {
			if o == s {
				ep.streams = append(ep.streams[:i], ep.streams[i+1:]...)
				break
			}
		}
		ep.rr = 0
	}
	var jobs []writeJob
	for _, p := range s.held {
		if p.attempt >= d.b.cfg.MaxAttempts {
			d.b.logger.Warn("request lost by too many handlers, answering 502", "app", p.app.name, "endpoint", p.ep.path, "attempts", p.attempt)
			jobs = d.finish(p, jobs, 502, fmt.Sprintf("The handler was lost %d times while handling this request", p.attempt))
			continue
		}
		delete(s.held, p.id)
		s.inflight--
		d.inflight--
		p.ep.m.InFlight.Dec()
		p.stream = nil
		p.state = stateWaiting
		// Back to the front: it was handed out before everything queued.
		p.ep.queue = append([]*pending{p}, p.ep.queue...)
		p.ep.waiting++
		p.ep.m.Waiting.Inc()
		d.cancel(&p.deadlineT)
		d.watchExpiry(p)
	}
	d.checkDrained()
	seen := make(map[*stream]bool)
	for _, ep := range s.serves {
		for _, o := range ep.streams {
			if !seen[o] {
				seen[o] = true
				jobs = d.fill(o, jobs)
			}
		}
	}
	d.mu.Unlock()
	d.b.write(jobs...)
}

// removed drops a request whose file disappeared before it was handed out:
// its sender gave up, so nobody would read the response.
func (d *dispatcher) removed(abs string) {
	d.mu.Lock()
	p := d.byPath[abs]
	if p == nil || p.state == stateInFlight {
		d.mu.Unlock()
		return
	}
	job := d.done(p, 0, nil, nil) // code 0: nothing to write, only release
	d.mu.Unlock()
	d.b.write(job)
}

// metricsFor returns the collectors of the endpoint whose folder holds a
// request at rel (relative to the rpc folder), or the app's unknown-endpoint
// collectors.
func (d *dispatcher) metricsFor(a *app, dir string) *metrics.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	for dir != "." && dir != "/" && dir != "" {
		if ep := a.endpoints["/"+dir]; ep != nil {
			return ep.m
		}
		dir = path.Dir(dir)
	}
	return a.unknown
}

// schema returns, in declaration order, the endpoints of a that handlers
// sent a schema for: an empty schema_json means "publish none", as
// syft-event's publish_schema=False.
func (d *dispatcher) schema(a *app) []syftrpc.SchemaEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []syftrpc.SchemaEntry
	for _, ep := range a.order {
		if ep.schema != "" {
			out = append(out, syftrpc.SchemaEntry{Endpoint: ep.path, JSON: ep.schema})
		}
	}
	return out
}

// drain stops all delivery; the channel closes once nothing is in flight.
func (d *dispatcher) drain() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.draining = true
	if d.drained == nil {
		d.drained = make(chan struct{})
	}
	d.checkDrained()
	return d.drained
}

func (d *dispatcher) checkDrained() {
	if d.draining && d.inflight == 0 && d.drained != nil {
		select {
		case <-d.drained:
		default:
			close(d.drained)
		}
	}
}

func (d *dispatcher) inFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight
}

func (d *dispatcher) timerLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
		jobs, next := d.fire(time.Now())
		d.b.write(jobs...)
		resetTimer(t, next)
	}
}

// fire handles every timer due at now and says how long until the next.
func (d *dispatcher) fire(now time.Time) ([]writeJob, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var jobs []writeJob
	for len(d.timers) > 0 && !d.timers[0].at.After(now) {
		t := heap.Pop(&d.timers).(*timer)
		switch t.kind {
		case timerExpiry:
			p := t.p
			p.expiry = nil
			if p.state == stateWaiting || p.state == stateUnrouted {
				jobs = d.expire(p, jobs)
			}
		case timerDeadline:
			p := t.p
			p.deadlineT = nil
			if p.state != stateInFlight {
				continue
			}
			s := p.stream
			s.notify(&pb.Cancel{RequestId: p.id, Attempt: p.attempt, Reason: pb.CancelReason_CANCEL_REASON_DEADLINE_EXCEEDED})
			dl := s.deadlines[p.ep]
			jobs = d.finish(p, jobs, 504, fmt.Sprintf("Handler did not answer within %s", dl))
			jobs = d.fill(s, jobs)
		case timerGrace:
			a := t.app
			a.graceOver = true
			held := a.unrouted
			a.unrouted = nil
			for _, p := range held {
				if p.state == stateUnrouted {
					jobs = d.notFound(p, jobs)
				}
			}
		case timerRoute:
			if t.p.state == stateUnrouted {
				jobs = d.route(t.p, jobs)
			}
		}
	}
	next := time.Hour
	if len(d.timers) > 0 {
		next = time.Until(d.timers[0].at)
	}
	return jobs, next
}

// notify sends a control message to the stream if there is room; these are
// advice, and a stream too far behind to take them is about to end anyway.
func (s *stream) notify(m any) {
	var msg *pb.ConnectResponse
	switch v := m.(type) {
	case *pb.Error:
		msg = &pb.ConnectResponse{Msg: &pb.ConnectResponse_Error{Error: v}}
	case *pb.Cancel:
		msg = &pb.ConnectResponse{Msg: &pb.ConnectResponse_Cancel{Cancel: v}}
	default:
		panic(fmt.Sprintf("notify: unexpected %T", m))
	}
	select {
	case s.send <- msg:
	default:
	}
}

package bridge

import (
	"container/heap"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// The dispatcher decides who gets which request and what is answered, and
// does no I/O: intake, the handler streams and the timer loop step it, and
// it hands back the responses to write ([]writeJob), which the caller gives
// to the writers after the dispatcher's lock is released. It reaches a
// handler only through that handler's deliverer, and reads time only from
// its clock, so tests drive it with a fake of each.

// clock is where the dispatcher reads the time.
type clock interface{ Now() time.Time }

// systemClock is the real time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// deliverer is one handler stream's way out. The dispatcher calls it under
// its lock, so no method may block.
type deliverer interface {
	// deliver hands the handler a request; false means it has no room, so
	// the stream is gone or broken (credits keep a live one from filling).
	deliver(delivery) bool
	// cancel tells the handler that a request's deadline passed.
	cancel(id string, attempt uint32)
	// refuse tells the handler that one of its replies or extensions was
	// dropped, and why.
	refuse(problem)
}

// delivery is a request handed to a handler.
type delivery struct {
	req      *syftrpc.Request
	attempt  uint32
	app      string
	endpoint string
	deadline time.Time
	path     string // relative to the datasites folder
}

// problem is a reply or extension the dispatcher dropped.
type problem struct {
	stale   bool // no such request in flight there; else the reply is invalid
	id      string
	attempt uint32
	msg     string
}

// reply is a handler's answer to one request.
type reply struct {
	id      string
	attempt uint32
	code    int // 0 means 200
	headers map[string]string
	body    []byte // nil is null on disk, empty is ""
}

// Request states.
const (
	stateUnrouted = iota // its endpoint is not declared (yet), or its id is taken
	stateWaiting         // queued for a stream with free credit
	stateInFlight        // sent to a stream, no reply yet
	stateAnswered        // its response is decided and not yet written
	stateReleased        // let go with nothing to write
)

// pending is one request from the moment intake takes it until its response
// is written.
type pending struct {
	id      string
	abs     string // absolute path of the request file
	rel     string // path relative to the app's rpc folder
	epPath  string // endpoint named by the folder
	app     *app
	ep      *endpoint
	req     *syftrpc.Request
	seen    time.Time
	stamp   safefs.Stamp // of the file req was read from
	state   int
	attempt uint32
	// counted says Received has counted p: under its endpoint, at submit
	// when declared, else when one is declared and p routed to it; under
	// the app's unknown endpoint only if p goes without one (404, expired,
	// its file gone), so that each request counts once, and under the
	// endpoint that answers it.
	counted bool

	handler   *handler
	deadline  time.Time
	deadlineT *timer   // in the heap while in flight: &deadlineTimer
	expiry    *timer   // in the heap while waiting or unrouted: &expiryTimer
	next      *pending // a request with the same id, held until this one is done

	// deadlineTimer and expiryTimer are the timers that deadlineT and
	// expiry point to when set, kept here so that arming them allocates
	// nothing.
	deadlineTimer, expiryTimer timer
}

// endpoint is one declared endpoint of an app, guarded by the dispatcher.
type endpoint struct {
	app    *app
	path   string
	schema string

	queue    []*pending // waiting requests, FIFO; answered ones are skipped
	waiting  int        // queue entries still waiting
	handlers []*handler
	rr       int
	m        *metrics.Endpoint
}

// handler is one handler stream as the dispatcher sees it: its credit, the
// endpoints it serves and the requests it holds.
type handler struct {
	id  uint64
	out deliverer
	// maxInFlight is the handler's credit: how many requests it takes at
	// once; inFlight how many it holds.
	maxInFlight int
	inFlight    int
	serves      []*endpoint
	deadlines   map[*endpoint]time.Duration
	held        map[string]*pending // in flight here, by request id
	rr          int
	closed      bool
}

func newHandler(id uint64, out deliverer, credit int) *handler {
	return &handler{id: id, out: out, maxInFlight: credit, deadlines: make(map[*endpoint]time.Duration), held: make(map[string]*pending)}
}

// dispatcher holds every request the sidecar has taken from disk and not yet
// answered on disk. Every field is guarded by mu but files, which has its
// own locks, and undecided, which is only changed under mu.
type dispatcher struct {
	cfg     Config
	clock   clock
	logger  *slog.Logger
	metrics *metrics.Metrics
	refused *refusals

	// files is the one set of requests in memory, from intake until
	// their response is written; intake and cleanup leave these alone.
	files *heldFiles

	mu   sync.Mutex
	byID map[string]*pending
	// undecided counts the held requests not yet answered (what
	// MaxPending bounds); read without mu by admitFile.
	undecided atomic.Int64
	timers    timerHeap
	inflight  int
	draining  bool
	drained   chan struct{}
	// promoted are requests whose id came free; they are routed at the
	// end of the step that freed it, so that a reply later in the same
	// batch can never answer them.
	promoted []*pending
	// full is set when admit turned a request away for MaxPending.
	full bool

	// wake gets a signal when the earliest timer changes; room when the
	// backlog, having been full, is down to half, for a rescan.
	wake chan struct{}
	room chan struct{}

	// listings, if set, is the watcher's count of folder listings begun
	// (watcher.Listings). Each request let go while a listing may still
	// be reporting is noted in files against it, so that intake can
	// trust a listing that showed no response beside a request unless
	// this sidecar let the request go (its response written) after that
	// listing began: then it must look for the response itself.
	listings func() uint64
}

func newDispatcher(cfg Config, c clock, m *metrics.Metrics, logger *slog.Logger, refused *refusals) *dispatcher {
	return &dispatcher{
		cfg:     cfg,
		clock:   c,
		logger:  logger,
		metrics: m,
		refused: refused,
		files:   newHeldFiles(),
		byID:    make(map[string]*pending),
		wake:    make(chan struct{}, 1),
		room:    make(chan struct{}, 1),
	}
}

// holds says whether the request file at abs is the dispatcher's: taken and
// not yet answered on disk.
func (d *dispatcher) holds(abs string) bool { return d.files.holds(abs) }

// admit says whether the intake may take one more request into memory. A
// request turned away stays on disk: the rescan after the backlog halves
// finds it.
func (d *dispatcher) admit() bool {
	if d.undecided.Load() < int64(d.cfg.MaxPending) {
		return true
	}
	// Full, or nearly: under the lock, which notes it full for the rescan.
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.admitLocked()
}

// admitFile is holds and admit in one step, as intake asks both of every
// file before it reads it: held says the dispatcher has abs already, ok
// that intake may take it. unsure says that a response to abs may have
// been written since the watcher's listing numbered listing (0: none)
// began, so that the listing cannot tell whether abs is answered. It
// takes the dispatcher's lock only when the backlog is full.
func (d *dispatcher) admitFile(abs string, listing uint64) (held, ok, unsure bool) {
	if held, unsure = d.files.check(abs, listing); held {
		return true, false, true
	}
	return false, d.admit(), unsure
}

func (d *dispatcher) admitLocked() bool {
	if d.undecided.Load() < int64(d.cfg.MaxPending) {
		return true
	}
	if !d.full {
		d.full = true
		d.logger.Info("backlog: holding the most requests allowed in memory; the rest stay on disk until half are answered", "max_pending", d.cfg.MaxPending)
	}
	return false
}

// submit takes requests that passed every check at intake, in one taking
// of the lock, and counts each received. It asks admit again: intake's
// shards read files at once, each admitted before it was read, and only
// this count under the lock keeps the bound exact; a request turned away
// here stays on disk, as one that admitFile turned away.
func (d *dispatcher) submit(ps ...*pending) []writeJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	var jobs []writeJob
	for _, p := range ps {
		jobs = d.submitLocked(p, jobs)
	}
	return jobs
}

func (d *dispatcher) submitLocked(p *pending, jobs []writeJob) []writeJob {
	if !d.files.add(p) {
		return jobs
	}
	if !d.admitLocked() {
		d.files.drop(p)
		return jobs
	}
	if m := d.metricsForLocked(p.app, path.Dir(p.rel)); m != p.app.unknown {
		m.Received.Inc()
		p.counted = true
	}
	d.undecided.Add(1)
	if first, ok := d.byID[p.id]; ok {
		// Another file carries the same id; replies name only the id, so
		// this one waits until that one is answered.
		for first.next != nil {
			first = first.next
		}
		first.next = p
		p.state = stateUnrouted
		return jobs
	}
	d.byID[p.id] = p
	return d.route(p, jobs)
}

// reserve holds abs for a response that intake decided itself, until it is
// written. It is false when abs is held already.
func (d *dispatcher) reserve(abs string) bool { return d.files.reserve(abs) }

// written releases each of abs once its response is on disk, or will never
// be, without the dispatcher's lock, and hands what intake parsed of each
// request to its app's cleanup, which then need not read it: the first
// cleanup after a backlog would otherwise read every request the backlog
// held.
func (d *dispatcher) written(abs ...string) {
	var listings uint64
	if d.listings != nil {
		// Read after the responses were written: every listing that began
		// before then is numbered at most this.
		listings = d.listings()
	}
	// One response at a time allocates nothing.
	var (
		one  [1]*pending
		note [1]cleanup.Noted
	)
	ps := d.files.release(one[:0], abs, listings, d.clock.Now())
	notes := note[:0]
	if len(ps) > len(note) {
		notes = make([]cleanup.Noted, 0, len(ps))
	}
	// Each app's in one taking of its lock.
	for i := 0; i < len(ps); {
		a := ps[i].app
		notes = notes[:0]
		for ; i < len(ps) && ps[i].app == a; i++ {
			notes = append(notes, cleanup.Noted{Rel: ps[i].rel, Created: ps[i].req.Created, Stamp: ps[i].stamp})
		}
		a.known.NoteAll(notes)
	}
}

// allWritten returns a channel that is closed once every response decided so
// far is written (at once if none is waiting).
func (d *dispatcher) allWritten() <-chan struct{} { return d.files.allWritten() }

// removed releases, with nothing to write, a request whose file disappeared
// before it was handed out: its sender gave up, so nobody would read the
// response. One in flight stays until its handler answers.
func (d *dispatcher) removed(abs string) []writeJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.files.get(abs)
	if p == nil || p.state == stateInFlight || p.state == stateAnswered {
		return nil
	}
	d.unhook(p)
	d.count(p)
	p.state = stateReleased
	d.files.drop(p)
	d.freeID(p)
	return d.routePromoted(nil)
}

// route finds p's endpoint and a handler for it, or queues it.
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
		d.count(p)
	}
	if d.clock.Now().After(p.req.Expires) {
		return d.expire(p, jobs)
	}
	if !d.draining {
		if h := p.ep.pick(); h != nil {
			d.deliver(p, h)
			return jobs
		}
	}
	p.state = stateWaiting
	p.ep.queue = append(p.ep.queue, p)
	p.ep.waiting++
	p.ep.m.Waiting.Inc()
	d.watchExpiry(p)
	return jobs
}

// pick returns a handler serving ep with free credit, round robin.
func (ep *endpoint) pick() *handler {
	n := len(ep.handlers)
	for i := 0; i < n; i++ {
		h := ep.handlers[(ep.rr+i)%n]
		if h.inFlight < h.maxInFlight {
			ep.rr = (ep.rr + i + 1) % n
			return h
		}
	}
	return nil
}

// pop takes the first request still waiting off ep's queue.
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

// deliver hands p to h as its next attempt.
func (d *dispatcher) deliver(p *pending, h *handler) {
	p.state = stateInFlight
	p.handler = h
	p.attempt++
	p.deadline = d.clock.Now().Add(h.deadlines[p.ep])
	h.inFlight++
	h.held[p.id] = p
	d.inflight++
	p.ep.m.InFlight.Inc()
	// Expiry matters only while a request waits; in flight, the deadline
	// rules.
	d.cancelTimer(&p.expiry)
	d.setDeadline(p)
	if p.attempt > 1 {
		p.ep.m.Redeliver.Inc()
	}
	ok := h.out.deliver(delivery{
		req:      p.req,
		attempt:  p.attempt,
		app:      p.app.name,
		endpoint: p.ep.path,
		deadline: p.deadline,
		path:     d.cfg.Owner + "/app_data/" + p.app.name + "/rpc/" + p.rel,
	})
	if !ok {
		// The request stays in flight there: the stream's end hands it on.
		d.logger.Warn("stream send buffer full", "stream", h.id)
	}
}

// fill hands waiting requests to h while it has credit.
func (d *dispatcher) fill(h *handler, jobs []writeJob) []writeJob {
	if d.draining || h.closed {
		return jobs
	}
	for h.inFlight < h.maxInFlight {
		var p *pending
		for i := 0; i < len(h.serves) && p == nil; i++ {
			ep := h.serves[(h.rr+i)%len(h.serves)]
			if ep.waiting == 0 {
				continue
			}
			h.rr = (h.rr + i + 1) % len(h.serves)
			p = ep.pop()
		}
		if p == nil {
			return jobs
		}
		p.ep.m.Waiting.Dec()
		if d.clock.Now().After(p.req.Expires) {
			jobs = d.expire(p, jobs)
			continue
		}
		d.deliver(p, h)
	}
	return jobs
}

// expire answers 419 for a request that expired before a handler took it.
func (d *dispatcher) expire(p *pending, jobs []writeJob) []writeJob {
	if p.ep != nil {
		p.ep.m.Expired.Inc()
	}
	return d.answer(p, jobs, 419, nil, []byte("Request expired"))
}

// notFound answers p 404: no handler declared its endpoint.
func (d *dispatcher) notFound(p *pending, jobs []writeJob) []writeJob {
	d.refused.note("no_handler", "path", p.abs, "code", 404, "app", p.app.name, "endpoint", p.epPath)
	return d.answer(p, jobs, 404, nil, []byte(fmt.Sprintf("No handler for endpoint %s of app %s", p.epPath, p.app.name)))
}

// answer decides p's response: p leaves every queue, handler and timer, and
// stays held until the writer reports it written. A request that shares
// p's id and was waiting for it goes on.
func (d *dispatcher) answer(p *pending, jobs []writeJob, code int, headers map[string]string, body []byte) []writeJob {
	d.unhook(p)
	p.state = stateAnswered
	d.files.owe()
	d.freeID(p)
	d.count(p)
	m := p.metrics()
	return append(jobs, writeJob{
		root: p.app.root, rel: p.rel, abs: p.abs,
		id: p.req.ID, url: p.req.URL, expires: p.req.Expires, seen: p.seen, m: m,
		code: code, headers: headers, body: body,
	})
}

// count counts p received if it is not yet: under its endpoint, or the
// app's unknown one when it has none.
func (d *dispatcher) count(p *pending) {
	if p.counted {
		return
	}
	p.counted = true
	p.metrics().Received.Inc()
}

// metrics are the collectors of p's endpoint, or of its app's unknown one
// while it has none.
func (p *pending) metrics() *metrics.Endpoint {
	if p.ep != nil {
		return p.ep.m
	}
	return p.app.unknown
}

// unhook takes an undecided p out of its queue or handler and the timer
// heap, and counts it decided.
func (d *dispatcher) unhook(p *pending) {
	switch p.state {
	case stateWaiting:
		p.ep.waiting--
		p.ep.m.Waiting.Dec()
	case stateInFlight:
		h := p.handler
		delete(h.held, p.id)
		h.inFlight--
		d.inflight--
		p.ep.m.InFlight.Dec()
		p.handler = nil
	}
	d.cancelTimer(&p.expiry)
	d.cancelTimer(&p.deadlineT)
	if n := d.undecided.Add(-1); d.full && n <= int64(d.cfg.MaxPending/2) {
		d.full = false
		select {
		case d.room <- struct{}{}:
		default:
		}
	}
	d.checkDrained()
}

// freeID gives up p's claim on its id: the next request with the same id is
// promoted, to be routed at the end of this step.
func (d *dispatcher) freeID(p *pending) {
	head := d.byID[p.id]
	if head != p {
		// p waited behind another with its id: unlink it.
		for q := head; q != nil; q = q.next {
			if q.next == p {
				q.next = p.next
				break
			}
		}
		p.next = nil
		return
	}
	if p.next == nil {
		delete(d.byID, p.id)
		return
	}
	d.byID[p.id] = p.next
	d.promoted = append(d.promoted, p.next)
	p.next = nil
}

// routePromoted routes the requests whose id came free in this step.
func (d *dispatcher) routePromoted(jobs []writeJob) []writeJob {
	for len(d.promoted) > 0 {
		p := d.promoted[0]
		d.promoted = d.promoted[1:]
		if p.state == stateUnrouted {
			jobs = d.route(p, jobs)
		}
	}
	d.promoted = nil
	return jobs
}

// reply records a handler's answers (one Reply, or a ReplyBatch's) and
// returns their responses.
func (d *dispatcher) reply(h *handler, rs ...reply) []writeJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	var jobs []writeJob
	for _, r := range rs {
		code := r.code
		if code == 0 {
			code = 200
		}
		p := h.held[r.id]
		if p == nil || p.attempt != r.attempt {
			d.metrics.StaleReplies.Inc()
			h.out.refuse(problem{stale: true, id: r.id, attempt: r.attempt, msg: "no such request in flight on this stream: dropped"})
			continue
		}
		if code < 100 || code > 599 {
			h.out.refuse(problem{id: p.id, attempt: p.attempt, msg: fmt.Sprintf("status code %d is outside 100-599", code)})
			continue
		}
		jobs = d.answer(p, jobs, code, r.headers, r.body)
	}
	if len(jobs) > 0 {
		jobs = d.fill(h, jobs)
	}
	return d.routePromoted(jobs)
}

// extend moves an in-flight request's deadline to by from now.
func (d *dispatcher) extend(h *handler, id string, attempt uint32, by time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := h.held[id]
	if p == nil || p.attempt != attempt {
		h.out.refuse(problem{stale: true, id: id, attempt: attempt, msg: "no such request in flight on this stream: extension dropped"})
		return
	}
	if by <= 0 || by > MaxDeadline {
		h.out.refuse(problem{id: p.id, attempt: p.attempt, msg: fmt.Sprintf("extend_by %s is outside (0, %s]", by, MaxDeadline)})
		return
	}
	p.deadline = d.clock.Now().Add(by)
	d.setDeadline(p)
}

// credit changes how much a handler takes at once (0 keeps it).
func (d *dispatcher) credit(h *handler, n uint32) []writeJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	h.maxInFlight = clampCredit(n, h.maxInFlight)
	return d.fill(h, nil)
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

// join makes h serve the given endpoints of a, acknowledges through ack
// (told h's credit; false when the stream has no room for it), and starts
// delivery. It reports whether the app's schema changed.
func (d *dispatcher) join(h *handler, a *app, eps []declared, credit uint32, ack func(maxInFlight int) bool) (bool, []writeJob, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	if a.since.IsZero() {
		a.since = d.clock.Now()
		d.schedule(&timer{at: a.since.Add(d.cfg.Grace), kind: timerGrace, app: a})
	}
	for _, de := range eps {
		ep := a.endpoints[de.path]
		if ep == nil {
			ep = &endpoint{app: a, path: de.path, m: d.metrics.ForEndpoint(a.name, de.path)}
			a.endpoints[de.path] = ep
			a.order = append(a.order, ep)
			changed = true
		}
		if de.schema != "" && de.schema != ep.schema {
			ep.schema = de.schema
			changed = true
		}
		if _, ok := h.deadlines[ep]; !ok {
			h.serves = append(h.serves, ep)
			ep.handlers = append(ep.handlers, h)
		}
		h.deadlines[ep] = de.deadline
	}
	h.maxInFlight = clampCredit(credit, h.maxInFlight)
	// The acknowledgement goes first, so a handler never sees a request
	// for an app before the app's Registered.
	if !ack(h.maxInFlight) {
		// A handler that registers faster than it reads: refuse rather
		// than block every stream on this one.
		return false, nil, errAckFull
	}
	var jobs []writeJob
	if changed {
		held := a.unrouted
		a.unrouted = nil
		for _, p := range held {
			if p.state == stateUnrouted {
				jobs = d.route(p, jobs)
			}
		}
	}
	jobs = d.fill(h, jobs)
	return changed, d.routePromoted(jobs), nil
}

// leave takes h out of service; what it held goes to other handlers or
// waits for one, with the next attempt number, unless it has had
// MaxAttempts already: then it is answered 502.
func (d *dispatcher) leave(h *handler) []writeJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	h.closed = true
	for _, ep := range h.serves {
		for i, o := range ep.handlers {
			if o == h {
				ep.handlers = append(ep.handlers[:i], ep.handlers[i+1:]...)
				break
			}
		}
		ep.rr = 0
	}
	var jobs []writeJob
	for _, p := range h.held {
		if p.attempt >= d.cfg.MaxAttempts {
			d.logger.Warn("request lost by too many handlers, answering 502", "app", p.app.name, "endpoint", p.ep.path, "attempts", p.attempt)
			jobs = d.answer(p, jobs, 502, nil, []byte(fmt.Sprintf("The handler was lost %d times while handling this request", p.attempt)))
			continue
		}
		delete(h.held, p.id)
		h.inFlight--
		d.inflight--
		p.ep.m.InFlight.Dec()
		p.handler = nil
		p.state = stateWaiting
		// Back to the front: it was handed out before everything queued.
		p.ep.queue = append([]*pending{p}, p.ep.queue...)
		p.ep.waiting++
		p.ep.m.Waiting.Inc()
		d.cancelTimer(&p.deadlineT)
		d.watchExpiry(p)
	}
	d.checkDrained()
	seen := make(map[*handler]bool)
	for _, ep := range h.serves {
		for _, o := range ep.handlers {
			if !seen[o] {
				seen[o] = true
				jobs = d.fill(o, jobs)
			}
		}
	}
	return d.routePromoted(jobs)
}

// metricsFor returns the collectors of the endpoint whose folder dir
// (relative to the rpc folder) holds a request, or the app's
// unknown-endpoint collectors.
func (d *dispatcher) metricsFor(a *app, dir string) *metrics.Endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.metricsForLocked(a, dir)
}

func (d *dispatcher) metricsForLocked(a *app, dir string) *metrics.Endpoint {
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

// backlogged says whether requests wait for a handler: queued for one,
// or for their endpoint to be declared, or behind another with their id.
func (d *dispatcher) backlogged() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.undecided.Load() > int64(d.inflight)
}

func (d *dispatcher) inFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight
}

// tick handles every timer due by the clock's now, and says how long until
// the next one is due.
func (d *dispatcher) tick() ([]writeJob, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
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
			h := p.handler
			h.out.cancel(p.id, p.attempt)
			jobs = d.answer(p, jobs, 504, nil, []byte(fmt.Sprintf("Handler did not answer within %s", h.deadlines[p.ep])))
			jobs = d.fill(h, jobs)
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
		}
	}
	jobs = d.routePromoted(jobs)
	next := time.Hour
	if len(d.timers) > 0 {
		next = d.timers[0].at.Sub(now)
	}
	return jobs, next
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

// cancelTimer takes *t out of the heap, if it is there, and clears it.
func (d *dispatcher) cancelTimer(t **timer) {
	if *t != nil && (*t).index >= 0 {
		heap.Remove(&d.timers, (*t).index)
	}
	*t = nil
}

// watchExpiry makes sure p is answered 419 if it is still waiting when it
// expires.
func (d *dispatcher) watchExpiry(p *pending) {
	if p.expiry == nil {
		p.expiryTimer = timer{at: p.req.Expires, kind: timerExpiry, p: p}
		p.expiry = &p.expiryTimer
		d.schedule(p.expiry)
	}
}

// setDeadline (re)arms p's deadline at p.deadline.
func (d *dispatcher) setDeadline(p *pending) {
	d.cancelTimer(&p.deadlineT)
	p.deadlineTimer = timer{at: p.deadline, kind: timerDeadline, p: p}
	p.deadlineT = &p.deadlineTimer
	d.schedule(p.deadlineT)
}

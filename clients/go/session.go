package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/batch"
)

// closeTimeout bounds how long a stopping client waits for the sidecar to end
// the stream after the client half-closed it. Waiting at all matters: ending
// the stream from our side at once could cut off replies still queued in
// gRPC's buffers.
const closeTimeout = 5 * time.Second

// batchLimit caps the requests per message the client asks for (Register's
// max_batch, also capped by its max in flight); maxBatchBytes keeps a batch of
// replies well inside the sidecar's receive limit.
const (
	batchLimit    = 256
	maxBatchBytes = 1 << 20
)

var (
	errStreamClosed = errors.New("sidecar closed the stream")
	errPanic        = errors.New("handler panicked")
)

// session is one Connect stream, shaped like etcd's watch stream: serve sends
// the registrations and subscriptions before anything else runs, then only
// sendLoop calls Send; recvLoop receives, starts one goroutine per request
// and queues events on their subscriptions.
type session struct {
	c      *Client
	stream grpc.BidiStreamingClient[pb.ConnectRequest, pb.ConnectResponse]
	log    *slog.Logger

	sendc chan *pb.ConnectRequest // replies, extensions and post's messages, to sendLoop
	quitc chan struct{}           // closed by serve: flush, half-close, stop
	donec chan struct{}           // closed when sendLoop returns: abandons sends

	maxBatch   atomic.Int32    // the sidecar's Registered.max_batch: above 1 it takes ReplyBatch
	nreg       int             // Registered messages seen; recvLoop only
	unacked    map[string]bool // subscriptions sent by serve and not yet Subscribed; recvLoop only
	registered time.Time       // when every app and subscription was acknowledged; read after recvLoop ended

	mu        sync.Mutex
	calls     map[callKey]*callContext
	endCause  error // why the calls' parent ended; nil while it runs
	draining  bool  // no handler or post starts once set, so the Waits are safe
	handlers  sync.WaitGroup
	producers sync.WaitGroup // post calls under way
}

// serve runs one stream until it breaks or ctx ends. It reports when the
// sidecar had acknowledged every app and subscription (zero if it never
// did), and why the stream ended (nil when ctx did).
func (c *Client) serve(ctx context.Context) (registered time.Time, err error) {
	// The stream outlives ctx by a little, so that the replies of handlers
	// that finish after ctx ended are still sent. Until the registrations
	// are out, ctx ending just ends it.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	disarm := context.AfterFunc(ctx, scancel)
	stream, err := c.rpc.Connect(sctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("connect: %w", err)
	}
	s := &session{
		c:       c,
		stream:  stream,
		log:     c.log,
		sendc:   make(chan *pb.ConnectRequest, c.maxInFlight),
		quitc:   make(chan struct{}),
		donec:   make(chan struct{}),
		unacked: map[string]bool{},
		calls:   map[callKey]*callContext{},
	}
	first := func(what string, m *pb.ConnectRequest) error {
		err := stream.Send(m)
		if errors.Is(err, io.EOF) {
			// The stream ended; Recv says why.
			_, err = stream.Recv()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	for _, app := range c.apps {
		if err := first("register "+app, c.register(app)); err != nil {
			return time.Time{}, err
		}
	}
	// Taking the list and making s current at once means that a listener
	// added meanwhile is either in the list or sent on s by AddListener,
	// behind these (sendLoop starts later).
	c.mu.Lock()
	subs := append([]*subscription(nil), c.subs...)
	c.cur = s
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()
	started := false
	defer func() {
		if !started {
			close(s.donec) // releases a post waiting for a sendLoop that will not run
		}
	}()
	for _, sub := range subs {
		if err := first("subscribe "+sub.id, sub.request()); err != nil {
			return time.Time{}, err
		}
		s.unacked[sub.id] = true
	}
	if !disarm() {
		return time.Time{}, nil
	}
	s.acked()
	started = true
	// Handler contexts end with ctx, or with the stream.
	hctx, hcancel := context.WithCancelCause(ctx)
	defer hcancel(nil)
	defer context.AfterFunc(hctx, func() { s.endCalls(context.Cause(hctx)) })()

	var wg sync.WaitGroup
	recvErr := make(chan error, 1)
	wg.Go(func() { recvErr <- s.recvLoop(hctx) })
	wg.Go(s.sendLoop)

	select {
	case <-ctx.Done():
		s.drain()
		t := time.NewTimer(closeTimeout)
		select {
		case <-recvErr:
		case <-t.C:
			s.log.Debug("sidecar did not close the stream, abandoning it")
		}
		t.Stop()
		scancel()
	case err = <-recvErr:
		// No reply can reach the sidecar any more; it delivers the requests
		// again, so the handlers may as well stop.
		hcancel(ErrDisconnected)
		scancel()
		s.drain()
	}
	wg.Wait()
	return s.registered, err
}

// drain stops new handlers and posts, waits for the running ones (their
// messages go out while the stream works), then lets sendLoop flush and
// half-close.
func (s *session) drain() {
	s.mu.Lock()
	s.draining = true
	n := len(s.calls)
	s.mu.Unlock()
	if n > 0 {
		s.log.Debug("waiting for handlers", "in_flight", n)
	}
	s.handlers.Wait()
	s.producers.Wait()
	close(s.quitc)
	<-s.donec
}

func (c *Client) register(app string) *pb.ConnectRequest {
	r := &pb.Register{
		App: app, MaxInFlight: uint32(c.maxInFlight), MaxBatch: uint32(min(c.maxInFlight, batchLimit)),
		HandlerName:   c.handlerName,
		CleanupExpiry: c.cleanupExpiry, CleanupInterval: c.cleanupInterval,
		ClientVersion: clientVersion,
	}
	if c.cleanupExpiry != "" || c.cleanupInterval != "" {
		// A sidecar without it would ignore the settings in silence.
		r.Requires = append(r.Requires, pb.CapabilityCleanup)
	}
	for _, ep := range c.routes {
		if ep.app != app {
			continue
		}
		e := &pb.Endpoint{Path: ep.path, SchemaJson: ep.schema}
		if ep.deadline > 0 {
			e.Deadline = durationpb.New(ep.deadline)
		}
		r.Endpoints = append(r.Endpoints, e)
	}
	return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Register{Register: r}}
}

// sendLoop is the only caller of Send once serve has registered. Replies
// already queued behind one go with it in a ReplyBatch when the sidecar
// takes batches; a lone reply never waits for company.
func (s *session) sendLoop() {
	defer close(s.donec)
	var next *pb.ConnectRequest // ended the last batch: goes first
	for {
		m := next
		if m == nil {
			select {
			case m = <-s.sendc:
			case <-s.quitc:
				// Every producer has finished: what is buffered is all there is.
				select {
				case m = <-s.sendc:
				default:
					if err := s.stream.CloseSend(); err != nil {
						s.log.Debug("half-close stream", "err", err)
					}
					return
				}
			}
		}
		m, next = s.batch(m)
		if err := s.stream.Send(m); err != nil {
			// gRPC has ended the stream; recvLoop reports why.
			s.log.Debug("send to sidecar", "err", err)
			return
		}
	}
}

// batch gathers the replies waiting behind m, when m is one, up to the
// sidecar's batch size and maxBatchBytes; the first message that does not
// fit comes back as next, to be sent after the batch.
func (s *session) batch(m *pb.ConnectRequest) (out, next *pb.ConnectRequest) {
	first := m.GetReply()
	limit := int(s.maxBatch.Load())
	if first == nil || limit <= 1 {
		return m, nil
	}
	replies, next := batch.Gather(s.sendc, first, func(m *pb.ConnectRequest) (*pb.Reply, bool) {
		r := m.GetReply()
		return r, r != nil
	}, replySizeBound, limit, maxBatchBytes)
	if len(replies) == 1 {
		return m, next
	}
	return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Replies{Replies: &pb.ReplyBatch{Replies: replies}}}, next
}

// send hands m to sendLoop. It gives up when the stream is gone, or when
// abandon (which may be nil) is closed.
func (s *session) send(abandon <-chan struct{}, m *pb.ConnectRequest) error {
	select {
	case s.sendc <- m:
		return nil
	case <-s.donec:
		return ErrDisconnected
	case <-abandon:
		return context.Canceled
	}
}

// post is send for callers outside the session (AddListener, RemoveListener,
// Publish). It refuses once the session drains: sendLoop's last flush must
// come after every message that was accepted.
func (s *session) post(abandon <-chan struct{}, m *pb.ConnectRequest) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return ErrDisconnected
	}
	s.producers.Add(1)
	s.mu.Unlock()
	defer s.producers.Done()
	return s.send(abandon, m)
}

func (s *session) recvLoop(hctx context.Context) error {
	for {
		m, err := s.stream.Recv()
		if errors.Is(err, io.EOF) {
			return errStreamClosed
		}
		if err != nil {
			return err
		}
		switch msg := m.GetMsg().(type) {
		case *pb.ConnectResponse_Registered:
			s.onRegistered(msg.Registered)
		case *pb.ConnectResponse_Request:
			s.dispatch(hctx, msg.Request)
		case *pb.ConnectResponse_Requests:
			for _, r := range msg.Requests.GetRequests() {
				s.dispatch(hctx, r)
			}
		case *pb.ConnectResponse_Cancel:
			s.onCancel(msg.Cancel)
		case *pb.ConnectResponse_Error:
			s.onError(msg.Error)
		case *pb.ConnectResponse_Subscribed:
			s.onSubscribed(msg.Subscribed)
		case *pb.ConnectResponse_FileEvent:
			s.onFileEvent(msg.FileEvent)
		case *pb.ConnectResponse_ListenerEvent:
			s.onListenerEvent(msg.ListenerEvent)
		case *pb.ConnectResponse_MissedEvents:
			s.onMissedEvents(msg.MissedEvents)
		default:
			// A newer sidecar may send what this client does not know yet;
			// it is not an error.
			s.log.Debug("ignoring unknown message from sidecar", "type", fmt.Sprintf("%T", msg))
		}
	}
}

func (s *session) onRegistered(m *pb.Registered) {
	s.log.Info("registered", "app", m.GetApp(), "owner", m.GetOwner(), "rpc_dir", m.GetRpcDir(), "sidecar", m.GetSidecarVersion())
	if n := m.GetMaxInFlight(); n != 0 && int(n) != s.c.maxInFlight {
		s.log.Info("sidecar set a different max in flight", "asked", s.c.maxInFlight, "max_in_flight", n)
	}
	s.maxBatch.Store(int32(m.GetMaxBatch()))
	s.nreg++
	s.acked()
	if f := s.c.onRegistered; f != nil {
		f(Registered{
			App: m.GetApp(), Owner: m.GetOwner(), RPCDir: m.GetRpcDir(), DatasitesDir: m.GetDatasitesDir(),
			SidecarVersion: m.GetSidecarVersion(), Capabilities: m.GetCapabilities(),
		})
	}
}

func (s *session) dispatch(hctx context.Context, m *pb.Request) {
	k := callKey{m.GetId(), m.GetAttempt()}
	req := newRequest(m)
	ep := s.c.endpoints[route{req.App, req.Endpoint}]

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		if s.debugging() {
			s.callLog(req).Debug("stopping: request left for redelivery")
		}
		return
	}
	if _, dup := s.calls[k]; dup {
		if s.debugging() {
			s.callLog(req).Debug("ignoring duplicate delivery")
		}
		return
	}
	if len(s.calls) >= s.c.maxInFlight {
		// Serve it anyway: refusing would strand it until the stream ends.
		s.callLog(req).Warn("sidecar sent more requests than max in flight", "in_flight", len(s.calls)+1)
	}
	cctx := newCallContext(hctx, s, k, req, ep)
	s.track(cctx)
	s.handlers.Add(1)
	go s.serveCall(cctx)
}

// track adds c to the calls, ending it at once if their parent ended
// already (the caller holds s.mu).
func (s *session) track(c *callContext) {
	s.calls[c.key] = c
	if s.endCause != nil {
		c.cancel(s.endCause)
	}
}

// endCalls ends the calls running and those tracked after it with cause: it
// is what the parent's end would have done to child contexts.
func (s *session) endCalls(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endCause = cause
	for _, c := range s.calls {
		c.cancel(cause)
	}
}

// debugging reports whether debug messages are logged: the per-request ones
// are built only then (their attributes cost more than serving an echo).
func (s *session) debugging() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// callLog is the logger for the messages about one call, made when one is
// logged: slog's With formats the attributes at once, whether or not
// anything is logged with them.
func (s *session) callLog(req *Request) *slog.Logger {
	return s.log.With("app", req.App, "endpoint", req.Endpoint, "id", req.ID, "attempt", req.Attempt)
}

func (s *session) serveCall(ctx *callContext) {
	defer s.handlers.Done()
	req, ep := ctx.req, ctx.ep
	debug := s.debugging()
	if debug {
		s.callLog(req).Debug("serving request")
	}
	var resp *Response
	var err error
	if ep == nil {
		s.callLog(req).Warn("request for an endpoint this client did not register")
		err = Error(404, fmt.Sprintf("no handler for %s %s", req.App, req.Endpoint))
	} else {
		resp, err = s.call(ctx, ep.h, req)
	}
	ended := ctx.Err() != nil
	ctx.release()
	s.mu.Lock()
	delete(s.calls, ctx.key)
	s.mu.Unlock()

	if err != nil && ended {
		// Most likely the error is the ending itself. The sidecar has
		// answered already (504, 419) or will deliver the request again; a
		// 500 from us would be wrong either way.
		if debug {
			s.callLog(req).Debug("handler gave up after its context ended, no reply", "err", err, "cause", context.Cause(ctx))
		}
		return
	}
	rep, rerr := newReply(req.ID, req.Attempt, resp, err)
	if rerr != nil && !errors.Is(rerr, errPanic) {
		s.callLog(req).Error("handler error, answering 500", "err", rerr)
	}
	m := &pb.ConnectRequest{Msg: &pb.ConnectRequest_Reply{Reply: rep}}
	if err := s.send(nil, m); err != nil {
		if debug {
			s.callLog(req).Debug("reply not sent: stream ended")
		}
		return
	}
	if debug {
		s.callLog(req).Debug("replied", "status", rep.GetStatusCode())
	}
}

// call runs h, turning a panic into an error so that one bad request never
// stops the client.
func (s *session) call(ctx context.Context, h Handler, req *Request) (resp *Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.callLog(req).Error("handler panicked, answering 500", "panic", v, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("%w: %v", errPanic, v)
		}
	}()
	return h.ServeRPC(ctx, req)
}

func (s *session) onCancel(m *pb.Cancel) {
	k := callKey{m.GetRequestId(), m.GetAttempt()}
	s.mu.Lock()
	c := s.calls[k]
	s.mu.Unlock()
	reason := strings.ToLower(strings.TrimPrefix(m.GetReason().String(), "CANCEL_REASON_"))
	if c == nil {
		s.log.Debug("cancel for a request not running", "id", k.id, "attempt", k.attempt, "reason", reason)
		return
	}
	s.log.Debug("sidecar canceled request", "id", k.id, "attempt", k.attempt, "reason", reason)
	if m.GetReason() == pb.CancelReason_CANCEL_REASON_DEADLINE_EXCEEDED {
		c.cancel(context.DeadlineExceeded)
		return
	}
	c.cancel(fmt.Errorf("%w: %s", ErrCanceled, reason))
}

func (s *session) onError(m *pb.Error) {
	args := []any{"code", m.GetCode().String(), "message", m.GetMessage(), "id", m.GetRequestId(), "attempt", m.GetAttempt()}
	if m.GetCode() == pb.ErrorCode_ERROR_CODE_STALE_REPLY {
		// Expected after a deadline passed or a redelivery raced a reply.
		s.log.Debug("sidecar dropped a stale reply", args...)
		return
	}
	s.log.Warn("sidecar reported an error", args...)
}

// acked notes the moment the sidecar has acknowledged every app and every
// subscription serve sent: from then on the stream counts as working.
func (s *session) acked() {
	if s.registered.IsZero() && s.nreg >= len(s.c.apps) && len(s.unacked) == 0 {
		s.registered = time.Now()
	}
}

func (s *session) onSubscribed(m *pb.Subscribed) {
	delete(s.unacked, m.GetId())
	s.acked()
	sub := s.c.sub(m.GetId())
	if sub == nil {
		s.log.Debug("subscribed: subscription already removed", "subscription", m.GetId())
		return
	}
	c := cursorOf(m.GetCursor())
	s.log.Debug("subscribed", "subscription", m.GetId(), "run", c.Run, "seq", c.Seq, "roots", m.GetRoots())
	sub.subscribed(c)
}

func (s *session) onFileEvent(m *pb.FileEvent) {
	sub := s.c.sub(m.GetWatchId())
	if sub == nil || sub.watch == nil {
		s.log.Debug("ignoring file event for no watch of this client", "watch", m.GetWatchId())
		return
	}
	ev := newFileEvent(m)
	if !sub.offer(ev.Cursor, delivery{file: ev}) {
		s.log.Debug("dropping file event delivered before", "watch", sub.id, "run", ev.Cursor.Run, "seq", ev.Cursor.Seq)
	}
}

func (s *session) onListenerEvent(m *pb.ListenerEvent) {
	sub := s.c.sub(m.GetListenerId())
	if sub == nil || sub.listen == nil {
		s.log.Debug("ignoring listener event for no listener of this client", "listener", m.GetListenerId())
		return
	}
	c := cursorOf(m.GetCursor())
	if !sub.offer(c, delivery{name: m.GetName(), data: m.GetData()}) {
		s.log.Debug("dropping listener event delivered before", "listener", sub.id, "run", c.Run, "seq", c.Seq)
	}
}

func (s *session) onMissedEvents(m *pb.MissedEvents) {
	sub := s.c.sub(m.GetId())
	if sub == nil {
		s.log.Debug("ignoring missed events for no subscription of this client", "subscription", m.GetId())
		return
	}
	sub.missed(newMissedEvents(m))
}

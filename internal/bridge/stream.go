package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/batch"
	"github.com/openmined/syft-sidecar/internal/events"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// stream is one handler's Connect stream, as etcd's serverWatchStream is one
// watch stream: serve receives on the calling goroutine, sendLoop sends on
// its own, and only sendLoop calls Send. Everything for the handler goes
// through two bounded channels: send (requests, acknowledgements and
// notices, kept from filling by the handler's credit) and ev (file and
// listener events, which may be lost and are then reported as missed).
// The stream converts between protobuf and the dispatcher's own types: it
// is the dispatcher's deliverer for this handler.
type stream struct {
	svc  *Service
	id   uint64
	name string
	h    *handler // the dispatcher's record of this stream
	log  *slog.Logger
	// registered is set by the first Register; only the receive loop
	// and, after it, serve touch it.
	registered bool

	send chan *pb.ConnectResponse
	// batch is how many Requests one message may carry (Register's
	// max_batch); set on the receiving goroutine, read on the sending one.
	batch atomic.Int32

	ev  chan *pb.ConnectResponse
	run string // the event log's run id, for the events' cursors
}

var (
	_ deliverer   = (*stream)(nil)
	_ events.Sink = (*stream)(nil)
)

// eventQueue is how many event-side messages wait for one stream before it
// counts as slow and starts losing events (and is told which).
const eventQueue = 1024

func newStream(svc *Service, id uint64) *stream {
	b := svc.b
	s := &stream{
		svc:  svc,
		id:   id,
		log:  b.logger.With("stream", id),
		send: make(chan *pb.ConnectResponse, MaxInFlightLimit+256),
		ev:   make(chan *pb.ConnectResponse, eventQueue),
		run:  b.hub.Log().Run(),
	}
	s.h = newHandler(id, s, int(b.cfg.MaxInFlight))
	return s
}

// serve runs the stream: the send loop on a goroutine of its own, the
// receive loop on this one, until the handler goes or a send fails; then
// what the handler held goes to others.
func (s *stream) serve(srv pb.SidecarService_ConnectServer) error {
	b := s.svc.b
	ctx, cancel := context.WithCancel(srv.Context())
	defer cancel()

	var wg sync.WaitGroup
	sendErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.sendLoop(ctx, srv); err != nil {
			sendErr <- err
			cancel()
		}
	}()

	err := s.recvLoop(ctx, srv, sendErr)
	cancel()
	wg.Wait()
	// Always: a registration refused half-way may have joined endpoints.
	b.w.write(b.d.leave(s.h)...)
	b.hub.Drop(s)
	if _, err := b.syncRoots(context.Background()); err != nil {
		s.log.Warn("drop watches", "err", err)
	}
	if s.registered {
		b.metrics.HandlerStreams.Dec()
		s.log.Info("handler disconnected", "handler", s.name)
	}
	return err
}

// recvLoop takes the handler's messages until the stream ends (the send
// loop's error, if it failed first, is the one that counts) or one of them
// ends it.
func (s *stream) recvLoop(ctx context.Context, srv pb.SidecarService_ConnectServer, sendErr <-chan error) error {
	b := s.svc.b
	for {
		msg, err := srv.Recv()
		if err != nil {
			select {
			case serr := <-sendErr:
				err = serr
			default:
			}
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
				return nil
			}
			s.log.Debug("stream ended", "err", err)
			return err
		}
		switch m := msg.Msg.(type) {
		case *pb.ConnectRequest_Register:
			if err := s.svc.register(ctx, s, m.Register); err != nil {
				s.log.Warn("registration refused", "app", m.Register.GetApp(), "err", err)
				return err
			}
			if !s.registered {
				s.registered = true
				b.metrics.HandlerStreams.Inc()
			}
			s.log.Info("handler registered", "app", m.Register.GetApp(), "handler", s.name, "endpoints", len(m.Register.GetEndpoints()), "max_in_flight", s.h.maxInFlight, "client", m.Register.GetClientVersion())
		case *pb.ConnectRequest_Reply:
			if !s.registered {
				return status.Error(codes.FailedPrecondition, "reply before register")
			}
			s.writeReply(b.d.reply(s.h, replyFromPB(m.Reply)))
		case *pb.ConnectRequest_Replies:
			if !s.registered {
				return status.Error(codes.FailedPrecondition, "reply before register")
			}
			rs := make([]reply, len(m.Replies.GetReplies()))
			for i, r := range m.Replies.GetReplies() {
				rs[i] = replyFromPB(r)
			}
			b.w.write(b.d.reply(s.h, rs...)...)
		case *pb.ConnectRequest_ExtendDeadline:
			e := m.ExtendDeadline
			b.d.extend(s.h, e.GetRequestId(), e.GetAttempt(), e.GetExtendBy().AsDuration())
		case *pb.ConnectRequest_Credit:
			b.w.write(b.d.credit(s.h, m.Credit.GetMaxInFlight())...)
		case *pb.ConnectRequest_Watch:
			if err := s.svc.watch(ctx, s, m.Watch); err != nil {
				return err
			}
		case *pb.ConnectRequest_Unwatch:
			s.svc.unsubscribe(ctx, s, watchPrefix+m.Unwatch.GetId())
		case *pb.ConnectRequest_Listen:
			if err := s.svc.listen(ctx, s, m.Listen); err != nil {
				return err
			}
		case *pb.ConnectRequest_Unlisten:
			s.svc.unsubscribe(ctx, s, listenPrefix+m.Unlisten.GetId())
		case *pb.ConnectRequest_Publish:
			if m.Publish.GetName() == "" {
				// One bad event is not worth the handler's stream.
				s.notify(&pb.Error{Message: "publish: a name is needed; event dropped"})
				continue
			}
			b.hub.Publish(m.Publish.GetName(), m.Publish.GetData())
		default:
			return status.Errorf(codes.InvalidArgument, "unknown message %T", msg.Msg)
		}
	}
}

// writeReply has the responses a reply decided written. One request at a
// time (this response alone, nothing else in flight, every writer idle) it
// writes it here: handing it to an idle writer costs that writer's wake-up
// on every request. Otherwise the writers take them and this goroutine goes
// back to receiving: writing here under load slowed 20,000 pending by 9% on
// two CPUs (docs/performance.md).
func (s *stream) writeReply(jobs []writeJob) {
	b := s.svc.b
	if len(jobs) == 1 && b.w.idle() && b.d.inFlight() == 0 && b.w.writeHere(jobs[0]) {
		return
	}
	b.w.write(jobs...)
}

// sendLoop is the only caller of srv.Send. Requests already queued behind
// one go with it in a RequestBatch when the handler takes batches: under
// load the handler pays its per-message cost once per batch, and a lone
// request is never held back to wait for company.
func (s *stream) sendLoop(ctx context.Context, srv pb.SidecarService_ConnectServer) error {
	var held *pb.ConnectResponse // taken from s.send while batching, goes next
	for {
		m := held
		held = nil
		if m == nil {
			select {
			case <-ctx.Done():
				return nil
			case m = <-s.send:
			case m = <-s.ev:
			}
		}
		if r := m.GetRequest(); r != nil && s.batch.Load() > 1 {
			m, held = s.batchFrom(m, r)
		}
		if err := srv.Send(m); err != nil {
			return err
		}
	}
}

// batchFrom gathers the Requests waiting behind first (m's Request), up to
// the stream's batch size and maxBatchBytes; the first message that does not
// fit comes back as next, to be sent after the batch.
func (s *stream) batchFrom(m *pb.ConnectResponse, first *pb.Request) (out, next *pb.ConnectResponse) {
	reqs, next := batch.Gather(s.send, first, func(m *pb.ConnectResponse) (*pb.Request, bool) {
		r := m.GetRequest()
		return r, r != nil
	}, func(r *pb.Request) int { return proto.Size(r) }, int(s.batch.Load()), maxBatchBytes)
	if len(reqs) == 1 {
		return m, next
	}
	return &pb.ConnectResponse{Msg: &pb.ConnectResponse_Requests{Requests: &pb.RequestBatch{Requests: reqs}}}, next
}

// trySend queues m for the send loop if there is room.
func (s *stream) trySend(m *pb.ConnectResponse) bool {
	select {
	case s.send <- m:
		return true
	default:
		return false
	}
}

// deliver implements deliverer: the request as the handler reads it.
func (s *stream) deliver(dl delivery) bool {
	return s.trySend(requestPB(dl))
}

// requestPB is a delivery as the handler reads it.
// Its six messages are made in one allocation (requestMsg): the dispatcher
// calls this under its lock, once for every request.
func requestPB(dl delivery) *pb.ConnectResponse {
	r := dl.req
	m := new(requestMsg)
	q := &m.req
	q.Id, q.Attempt, q.App, q.Endpoint = r.ID, dl.attempt, dl.app, dl.endpoint
	q.Sender, q.Url, q.Method, q.Headers, q.Body, q.Path = r.Sender, r.URL, r.Method, r.Headers, r.Body, dl.path
	q.Created, q.Expires, q.Deadline = stamp(&m.created, r.Created), stamp(&m.expires, r.Expires), stamp(&m.deadline, dl.deadline)
	m.oneof.Request = q
	m.msg.Msg = &m.oneof
	return &m.msg
}

// requestMsg holds a Request message and the messages around and inside
// it, so that they are one allocation; they point into it and are never
// copied.
type requestMsg struct {
	msg                        pb.ConnectResponse
	oneof                      pb.ConnectResponse_Request
	req                        pb.Request
	created, expires, deadline timestamppb.Timestamp
}

// stamp sets ts to t, as timestamppb.New does, and returns it.
func stamp(ts *timestamppb.Timestamp, t time.Time) *timestamppb.Timestamp {
	ts.Seconds, ts.Nanos = t.Unix(), int32(t.Nanosecond())
	return ts
}

// cancel implements deliverer.
func (s *stream) cancel(id string, attempt uint32) {
	s.notify(&pb.Cancel{RequestId: id, Attempt: attempt, Reason: pb.CancelReason_CANCEL_REASON_DEADLINE_EXCEEDED})
}

// refuse implements deliverer.
func (s *stream) refuse(p problem) {
	code := pb.ErrorCode_ERROR_CODE_INVALID_REPLY
	if p.stale {
		code = pb.ErrorCode_ERROR_CODE_STALE_REPLY
	}
	s.notify(&pb.Error{Code: code, Message: p.msg, RequestId: p.id, Attempt: p.attempt})
}

// replyFromPB is a Reply as the dispatcher takes it.
func replyFromPB(r *pb.Reply) reply {
	body := r.Body
	if r.Body != nil && len(body) == 0 {
		body = []byte{} // present but empty: "" on disk, not null
	}
	return reply{id: r.GetRequestId(), attempt: r.GetAttempt(), code: int(r.GetStatusCode()), headers: r.GetHeaders(), body: body}
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
	s.trySend(msg)
}

// TryEvent implements events.Sink for a stream.
func (s *stream) TryEvent(id string, ev events.Event) bool {
	cur := &pb.Cursor{Run: s.run, Seq: ev.Seq}
	ts := timestamppb.New(ev.Time)
	if strings.HasPrefix(id, watchPrefix) {
		return s.tryEvent(&pb.ConnectResponse{Msg: &pb.ConnectResponse_FileEvent{FileEvent: &pb.FileEvent{
			WatchId: id[len(watchPrefix):], Cursor: cur, Kind: kindsToPB[ev.Kind],
			Path: ev.Path, From: ev.From, IsDir: ev.Dir, Time: ts,
		}}})
	}
	name, data := string(ev.Kind), ev.Path
	switch ev.Kind {
	case events.Custom:
		name, data = ev.Name, ev.Data
	case events.Move:
		data = ev.From + " -> " + ev.Path
	}
	return s.tryEvent(&pb.ConnectResponse{Msg: &pb.ConnectResponse_ListenerEvent{ListenerEvent: &pb.ListenerEvent{
		ListenerId: id[len(listenPrefix):], Cursor: cur, Name: name, Data: data, Time: ts,
	}}})
}

// TryMissed implements events.Sink for a stream.
func (s *stream) TryMissed(id string, m events.Missed) bool {
	return s.tryEvent(&pb.ConnectResponse{Msg: &pb.ConnectResponse_MissedEvents{MissedEvents: &pb.MissedEvents{
		Id: id[2:], Restarted: m.Restarted, FromSeq: m.From, ToSeq: m.To, Reason: m.Reason,
	}}})
}

// tryEvent queues an event-side message without blocking; events have a
// channel of their own so that they never take the room that credits keep
// for requests.
func (s *stream) tryEvent(m *pb.ConnectResponse) bool {
	select {
	case s.ev <- m:
		return true
	default:
		return false
	}
}

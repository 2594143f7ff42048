package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/duration"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Service implements the gRPC SidecarService on a Bridge.
type Service struct {
	pb.UnimplementedSidecarServiceServer
	b      *Bridge
	nextID atomic.Uint64
}

var _ pb.SidecarServiceServer = (*Service)(nil)

// FlowWindow is the HTTP/2 flow-control window of a handler's stream and of
// its connection, each way. It is fixed: with gRPC's default dynamic windows
// every message that arrives when no estimate is under way makes the
// receiver send a window update and a BDP ping, which the sender's reader
// must wake for and answer; one request at a time that is every request,
// four wake-ups that carry nothing. A message larger than the window still
// goes through whole (the receiver widens the window for it).
const FlowWindow = 1 << 20

// ServerOptions are the gRPC settings the Service is served with.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(FlowWindow), grpc.StaticConnWindowSize(FlowWindow)}
}

// NewService returns the gRPC service of b.
func NewService(b *Bridge) *Service { return &Service{b: b} }

// declared is one endpoint of a Register, checked.
type declared struct {
	path     string
	deadline time.Duration
	schema   string
}

// Connect serves one handler stream (stream.go).
func (svc *Service) Connect(srv pb.SidecarService_ConnectServer) error {
	return newStream(svc, svc.nextID.Add(1)).serve(srv)
}

// lacking returns the capabilities in requires that this sidecar does not
// serve, quoted, in the order asked.
func lacking(requires []string) []string {
	var out []string
	for _, c := range requires {
		if !slices.Contains(pb.Capabilities, c) {
			out = append(out, strconv.Quote(c))
		}
	}
	return out
}

// register checks a Register, prepares the app's folders, and starts
// delivery to s. The first registration of an app watches its rpc folder
// and then scans it, so no request falls between.
func (svc *Service) register(ctx context.Context, s *stream, r *pb.Register) error {
	b := svc.b
	if missing := lacking(r.GetRequires()); len(missing) > 0 {
		client := r.GetClientVersion()
		if client == "" {
			client = "a client that did not say its version"
		}
		return status.Errorf(codes.FailedPrecondition, "register %s: syft-sidecar %s lacks %s, which %s needs: upgrade the sidecar",
			r.GetApp(), b.cfg.Version, strings.Join(missing, ", "), client)
	}
	if err := rpcpath.ValidateAppName(r.GetApp()); err != nil {
		return status.Errorf(codes.InvalidArgument, "register: app: %v", err)
	}
	if len(r.GetEndpoints()) == 0 {
		return status.Errorf(codes.InvalidArgument, "register %s: no endpoints", r.GetApp())
	}
	eps := make([]declared, 0, len(r.GetEndpoints()))
	for _, e := range r.GetEndpoints() {
		p, err := rpcpath.CleanEndpoint(e.GetPath())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "register %s: endpoint %q: %v", r.GetApp(), e.GetPath(), err)
		}
		dl := b.cfg.Deadline
		if e.GetDeadline() != nil {
			dl = e.GetDeadline().AsDuration()
			if dl <= 0 || dl > MaxDeadline {
				return status.Errorf(codes.InvalidArgument, "register %s: endpoint %s: deadline %s is outside (0, %s]", r.GetApp(), p, dl, MaxDeadline)
			}
		}
		if sj := e.GetSchemaJson(); sj != "" {
			if _, err := syftrpc.FormatSchema([]syftrpc.SchemaEntry{{Endpoint: p, JSON: sj}}); err != nil {
				return status.Errorf(codes.InvalidArgument, "register %s: endpoint %s: schema: %v", r.GetApp(), p, err)
			}
		}
		eps = append(eps, declared{path: p, deadline: dl, schema: e.GetSchemaJson()})
	}
	var expiry, interval time.Duration
	for _, f := range []struct {
		name, value string
		dst         *time.Duration
	}{{"cleanup_expiry", r.GetCleanupExpiry(), &expiry}, {"cleanup_interval", r.GetCleanupInterval(), &interval}} {
		if f.value == "" {
			continue
		}
		d, err := duration.Parse(f.value)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "register %s: %s: %v", r.GetApp(), f.name, err)
		}
		*f.dst = d
	}
	if r.GetHandlerName() != "" {
		s.name = r.GetHandlerName()
	}
	a, created, err := b.openApp(r.GetApp())
	if err != nil {
		return status.Errorf(codes.Internal, "register %s: %v", r.GetApp(), err)
	}
	if created {
		// Deferred: on success the endpoints are joined before the scan
		// finds the backlog; on failure the app is watched all the same,
		// since no later registration creates it again.
		defer b.watchApp(a)
	}
	for _, e := range eps {
		if err := prepareEndpoint(a.root, e.path); err != nil {
			return status.Errorf(codes.Internal, "register %s: endpoint %s: %v", a.name, e.path, err)
		}
	}
	if n := r.GetMaxBatch(); n > 0 {
		s.batch.Store(int32(min(n, MaxBatchLimit)))
	}
	ack := &pb.Registered{
		App:          a.name,
		Owner:        b.cfg.Owner,
		RpcDir:       a.rpcDir,
		DatasitesDir: b.cfg.DatasitesDir,
		MaxBatch:     uint32(max(s.batch.Load(), 1)),

		SidecarVersion: b.cfg.Version,
		Capabilities:   pb.Capabilities,
	}
	b.writeSchema(a, eps)
	changed, jobs, err := b.d.join(s.h, a, eps, r.GetMaxInFlight(), func(n int) bool {
		ack.MaxInFlight = uint32(n)
		return s.trySend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Registered{Registered: ack}})
	})
	b.w.write(jobs...)
	if err != nil {
		return status.Errorf(codes.ResourceExhausted, "register %s: %v", a.name, err)
	}
	if changed {
		// Another registration of the app may have joined in between.
		b.writeSchema(a, nil)
	}
	b.cleaner.set(a, expiry, interval)
	return nil
}

// watchApp watches a new app's rpc folder and scans it. Scanning a large
// backlog takes a while, so it runs on its own: the stream must go on
// receiving replies meanwhile, or their deadlines would pass.
func (b *Bridge) watchApp(a *app) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.watcher.Add(b.ctx, a.rpcDir); err != nil && !errors.Is(err, context.Canceled) {
			b.logger.Error("watch app", "app", a.name, "err", err)
		}
		// The app's first periodic cleanup waits until intake holds
		// what the scan found (the cleanup reads no held request),
		// for firstCleanupWait at most (cleaner.loop).
		select {
		case <-b.intake.drained():
			b.cleaner.scanned(a)
		case <-b.ctx.Done():
		}
	}()
}

var errAckFull = fmt.Errorf("stream send buffer full")

// CleanNow runs an app's cleanup at once.
func (svc *Service) CleanNow(ctx context.Context, r *pb.CleanNowRequest) (*pb.CleanNowResponse, error) {
	var expiry time.Duration
	if r.GetExpiry() != "" {
		d, err := duration.Parse(r.GetExpiry())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "clean now %s: expiry: %v", r.GetApp(), err)
		}
		expiry = d
	}
	st, err := svc.b.cleaner.now(r.GetApp(), expiry)
	if err != nil {
		return nil, statusOf(err)
	}
	return &pb.CleanNowResponse{Stats: cleanupStatsPB(st)}, nil
}

// GetCleanupStats reports an app's last cleanup.
func (svc *Service) GetCleanupStats(ctx context.Context, r *pb.GetCleanupStatsRequest) (*pb.GetCleanupStatsResponse, error) {
	st, err := svc.b.cleaner.last(r.GetApp())
	if err != nil {
		return nil, statusOf(err)
	}
	return &pb.GetCleanupStatsResponse{Stats: cleanupStatsPB(st), Running: st.Running}, nil
}

func cleanupStatsPB(st CleanupStats) *pb.CleanupStats {
	out := &pb.CleanupStats{
		RequestsDeleted:  st.RequestsDeleted,
		ResponsesDeleted: st.ResponsesDeleted,
		Errors:           st.Errors,
		Expiry:           durationpb.New(st.Expiry),
		Interval:         durationpb.New(st.Interval),
	}
	if !st.LastCleanup.IsZero() {
		out.LastCleanup = timestamppb.New(st.LastCleanup)
	}
	return out
}

// statusOf maps the bridge's errors to gRPC codes, in one place.
func statusOf(err error) error {
	switch {
	case errors.Is(err, ErrUnknownApp):
		return status.Error(codes.NotFound, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

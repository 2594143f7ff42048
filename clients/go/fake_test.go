package sidecar

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// fakeSidecar is a hand-written SidecarService whose streams the test drives
// message by message. The real sidecar runs in the integration tests; this
// one makes races (a Cancel in the middle of a handler, a reply during
// shutdown, a refused registration) happen on purpose.
type fakeSidecar struct {
	pb.UnimplementedSidecarServiceServer
	addr    string
	streams chan *fakeStream
	wg      sync.WaitGroup // receive loops, which outlive Connect by a moment
}

// fakeStream is one Connect call. The test goroutine is its only sender.
type fakeStream struct {
	t      *testing.T
	stream pb.SidecarService_ConnectServer
	recv   chan *pb.ConnectRequest // closed when the client half-closed or left
	end    chan error              // the status Connect returns
}

func MustFakeSidecar(t *testing.T) *fakeSidecar {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSidecar{addr: "unix://" + sock, streams: make(chan *fakeStream, 8)}
	srv := grpc.NewServer()
	pb.RegisterSidecarServiceServer(srv, f)
	f.wg.Go(func() { srv.Serve(lis) })
	t.Cleanup(func() { srv.Stop(); f.wg.Wait() })
	return f
}

func (f *fakeSidecar) Connect(stream pb.SidecarService_ConnectServer) error {
	s := &fakeStream{stream: stream, recv: make(chan *pb.ConnectRequest, 64), end: make(chan error, 1)}
	// Like the sidecar, end the stream once the client half-closed it.
	halfClosed := make(chan struct{})
	f.wg.Go(func() {
		defer close(s.recv)
		for {
			m, err := stream.Recv()
			if err != nil {
				close(halfClosed)
				return
			}
			select {
			case s.recv <- m:
			case <-stream.Context().Done():
				return
			}
		}
	})
	select {
	case f.streams <- s:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	select {
	case err := <-s.end:
		return err
	case <-halfClosed:
		return nil
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
}

// MustStream waits for the client's next stream.
func (f *fakeSidecar) MustStream(t *testing.T) *fakeStream {
	t.Helper()
	select {
	case s := <-f.streams:
		s.t = t
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("client did not connect")
		return nil
	}
}

// MustRecv waits for the client's next message.
func (s *fakeStream) MustRecv() *pb.ConnectRequest {
	s.t.Helper()
	select {
	case m, ok := <-s.recv:
		if !ok {
			s.t.Fatal("client closed the stream")
		}
		return m
	case <-time.After(10 * time.Second):
		s.t.Fatal("no message from client")
		return nil
	}
}

// MustClosed waits for the client to half-close or leave the stream.
func (s *fakeStream) MustClosed() {
	s.t.Helper()
	for {
		select {
		case m, ok := <-s.recv:
			if !ok {
				return
			}
			s.t.Fatalf("unexpected message before close: %v", m)
		case <-time.After(10 * time.Second):
			s.t.Fatal("client did not close the stream")
		}
	}
}

// MustRegister reads one Register and acknowledges it.
func (s *fakeStream) MustRegister() *pb.Register {
	s.t.Helper()
	r := s.MustRecv().GetRegister()
	if r == nil {
		s.t.Fatal("first message is not a Register")
	}
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Registered{Registered: &pb.Registered{
		App: r.GetApp(), Owner: "bob@example.com", RpcDir: "/data/datasites/bob@example.com/app_data/" + r.GetApp() + "/rpc",
		DatasitesDir: "/data/datasites", MaxInFlight: r.GetMaxInFlight(),
	}}})
	return r
}

func (s *fakeStream) MustSend(m *pb.ConnectResponse) {
	s.t.Helper()
	if err := s.stream.Send(m); err != nil {
		s.t.Fatalf("send to client: %v", err)
	}
}

func (s *fakeStream) SendRequest(id string, attempt uint32, endpoint string, body []byte, deadline time.Time) {
	s.t.Helper()
	r := &pb.Request{Id: id, Attempt: attempt, App: "echo", Endpoint: endpoint, Sender: "alice@example.com", Method: "POST", Body: body}
	if !deadline.IsZero() {
		r.Deadline = timestamppb.New(deadline)
	}
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Request{Request: r}})
}

// MustReply waits for the next message and checks it is a Reply.
func (s *fakeStream) MustReply() *pb.Reply {
	s.t.Helper()
	m := s.MustRecv()
	if m.GetReply() == nil {
		s.t.Fatalf("got %v, want a Reply", m)
	}
	return m.GetReply()
}

// runClient runs c in the background and returns a function that cancels
// Run and returns its error.
func runClient(t *testing.T, c *Client) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

package sidecar

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

func TestStreamServe(t *testing.T) {
	f := MustFakeSidecar(t)
	var mu sync.Mutex
	var regs []Registered
	c := MustNew(t, f.addr, WithMaxInFlight(4), WithHandlerName("w1"), WithOnRegistered(func(r Registered) {
		mu.Lock()
		defer mu.Unlock()
		regs = append(regs, r)
	}))
	release := make(chan struct{})
	for _, h := range []struct {
		ep string
		f  HandlerFunc
	}{
		{"/echo", echoHandler},
		{"/slow", func(ctx context.Context, r *Request) (*Response, error) {
			<-release
			return &Response{StatusCode: 202, Headers: map[string]string{"x": "y"}, Body: []byte("done")}, nil
		}},
		{"/fail", func(ctx context.Context, r *Request) (*Response, error) { return nil, errors.New("secret detail") }},
		{"/teapot", func(ctx context.Context, r *Request) (*Response, error) { return nil, Error(418, "short and stout") }},
		{"/panic", func(ctx context.Context, r *Request) (*Response, error) { panic("boom") }},
	} {
		if err := c.Handle("echo", h.ep, h.f); err != nil {
			t.Fatal(err)
		}
	}
	runClient(t, c)
	s := f.MustStream(t)
	r := s.MustRegister()
	if r.GetApp() != "echo" || r.GetMaxInFlight() != 4 || r.GetHandlerName() != "w1" || len(r.GetEndpoints()) != 5 {
		t.Fatalf("register = %v", r)
	}

	// A handler that hangs holds one slot and nothing else.
	s.SendRequest("slow", 1, "/slow", nil, time.Time{})
	for i, tt := range []struct {
		ep   string
		body []byte
		code int32
		want []byte
	}{
		{"/echo", []byte("hi"), 200, []byte("hi")},
		{"/echo", nil, 200, nil},
		{"/echo", []byte{}, 200, []byte{}},
		{"/fail", nil, 500, []byte(InternalErrorBody)},
		{"/panic", nil, 500, []byte(InternalErrorBody)},
		{"/echo", []byte("after panic"), 200, []byte("after panic")},
		{"/teapot", nil, 418, []byte("short and stout")},
		{"/unknown", nil, 404, []byte("no handler for echo /unknown")},
	} {
		id := fmt.Sprint("r", i)
		s.SendRequest(id, 1, tt.ep, tt.body, time.Time{})
		rep := s.MustReply()
		if rep.GetRequestId() != id || rep.GetAttempt() != 1 || rep.GetStatusCode() != tt.code ||
			string(rep.Body) != string(tt.want) || (rep.Body == nil) != (tt.want == nil) {
			t.Fatalf("%s: reply = %v, want %d %q (null %v)", tt.ep, rep, tt.code, tt.want, tt.want == nil)
		}
	}
	// Errors the sidecar reports do not disturb the stream.
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Error{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_STALE_REPLY, RequestId: "old"}}})
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Cancel{Cancel: &pb.Cancel{RequestId: "old"}}})
	close(release)
	if rep := s.MustReply(); rep.GetRequestId() != "slow" || rep.GetStatusCode() != 202 || string(rep.Body) != "done" || rep.GetHeaders()["x"] != "y" {
		t.Fatalf("slow reply = %v", rep)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(regs) != 1 || regs[0].App != "echo" || regs[0].Owner != "bob@example.com" || regs[0].DatasitesDir != "/data/datasites" {
		t.Fatalf("OnRegistered got %+v", regs)
	}
}

func TestStreamCancel(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	causes := make(chan error, 2)
	wait := func(ctx context.Context, r *Request) (*Response, error) {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}
	if err := c.HandleFunc("echo", "/wait", wait); err != nil {
		t.Fatal(err)
	}
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRegister()

	s.SendRequest("a", 1, "/wait", nil, time.Time{})
	s.SendRequest("b", 2, "/wait", nil, time.Now().Add(50*time.Millisecond))
	// The deadline passes on its own; "a" ends when the sidecar cancels it.
	if cause := mustCause(t, causes); !errors.Is(cause, context.DeadlineExceeded) {
		t.Fatalf("cause = %v, want deadline exceeded", cause)
	}
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Cancel{Cancel: &pb.Cancel{RequestId: "a", Attempt: 1, Reason: pb.CancelReason_CANCEL_REASON_EXPIRED}}})
	if cause := mustCause(t, causes); !errors.Is(cause, ErrCanceled) {
		t.Fatalf("cause = %v, want ErrCanceled", cause)
	}
	// Neither sent a reply: the next message answers this one.
	s.SendRequest("c", 1, "/echo", []byte("x"), time.Time{})
	if rep := s.MustReply(); rep.GetRequestId() != "c" {
		t.Fatalf("reply = %v, want one for c", rep)
	}
}

func mustCause(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler context did not end")
		return nil
	}
}

func TestStreamExtendDeadline(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	long := func(ctx context.Context, r *Request) (*Response, error) {
		if err := ExtendDeadline(ctx, time.Minute); err != nil {
			return nil, err
		}
		if d, _ := ctx.Deadline(); time.Until(d) < 50*time.Second {
			return nil, fmt.Errorf("deadline %v not extended", d)
		}
		time.Sleep(200 * time.Millisecond) // past the first deadline
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("context ended: %w", err)
		}
		return &Response{Body: []byte("made it")}, nil
	}
	if err := c.HandleFunc("echo", "/long", long); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRegister()
	s.SendRequest("a", 3, "/long", nil, time.Now().Add(100*time.Millisecond))
	ext := s.MustRecv().GetExtendDeadline()
	if ext.GetRequestId() != "a" || ext.GetAttempt() != 3 || ext.GetExtendBy().AsDuration() != time.Minute {
		t.Fatalf("extend = %v", ext)
	}
	if rep := s.MustReply(); rep.GetStatusCode() != 200 || string(rep.Body) != "made it" {
		t.Fatalf("reply = %v", rep)
	}
}

func TestStreamPermanentError(t *testing.T) {
	for _, code := range []codes.Code{codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated} {
		t.Run(code.String(), func(t *testing.T) {
			f := MustFakeSidecar(t)
			c := MustNew(t, f.addr, WithBackoff(time.Millisecond, time.Millisecond))
			if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- c.Run(t.Context()) }()
			s := f.MustStream(t)
			s.MustRecv()
			s.end <- status.Error(code, "app name taken")
			select {
			case err := <-errc:
				if status.Code(err) != code {
					t.Fatalf("Run: err = %v, want code %v", err, code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
		})
	}
}

func TestStreamReconnect(t *testing.T) {
	f := MustFakeSidecar(t)
	var regs sync.WaitGroup
	regs.Add(2)
	c := MustNew(t, f.addr, WithBackoff(time.Millisecond, 10*time.Millisecond), WithOnRegistered(func(Registered) { regs.Done() }))
	causes := make(chan error, 1)
	if err := c.HandleFunc("echo", "/wait", func(ctx context.Context, r *Request) (*Response, error) {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return &Response{Body: []byte("too late")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRegister()
	s.SendRequest("a", 1, "/wait", nil, time.Time{})
	// Wait until the handler runs before breaking the stream.
	s.SendRequest("b", 1, "/echo", nil, time.Time{})
	s.MustReply()
	s.end <- status.Error(codes.Unavailable, "sidecar restarting")
	if cause := mustCause(t, causes); !errors.Is(cause, ErrDisconnected) {
		t.Fatalf("cause = %v, want ErrDisconnected", cause)
	}

	s2 := f.MustStream(t)
	if r := s2.MustRegister(); len(r.GetEndpoints()) != 2 {
		t.Fatalf("register again = %v", r)
	}
	regs.Wait()
	s2.SendRequest("a", 2, "/echo", []byte("again"), time.Time{})
	if rep := s2.MustReply(); rep.GetRequestId() != "a" || rep.GetAttempt() != 2 || string(rep.Body) != "again" {
		t.Fatalf("reply = %v", rep)
	}
}

func TestStreamShutdown(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	started := make(chan struct{})
	release := make(chan struct{})
	if err := c.HandleFunc("echo", "/slow", func(ctx context.Context, r *Request) (*Response, error) {
		close(started)
		<-ctx.Done() // stopping cancels the handler...
		<-release    // ...which may still finish its work
		return &Response{Body: []byte("finished")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	s := f.MustStream(t)
	s.MustRegister()
	s.SendRequest("a", 1, "/slow", nil, time.Time{})
	<-started

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// A request that arrives while stopping is left for redelivery.
	s.SendRequest("b", 1, "/slow", nil, time.Time{})
	close(release)
	if rep := s.MustReply(); rep.GetRequestId() != "a" || string(rep.Body) != "finished" {
		t.Fatalf("reply = %v", rep)
	}
	s.MustClosed()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestCloseStopsRun(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	s := f.MustStream(t)
	s.MustRegister()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

package sidecar

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

func marshalRoundTrip(m *pb.Request) (*pb.Request, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out pb.Request
	return &out, proto.Unmarshal(b, &out)
}

func TestCallContextDeadline(t *testing.T) {
	start := time.Now()
	ctx := newCallContext(t.Context(), nil, callKey{"id", 1}, &Request{Deadline: start.Add(50 * time.Millisecond)}, nil)
	defer ctx.release()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(start.Add(50*time.Millisecond)) {
		t.Fatalf("Deadline() = %v, %v", d, ok)
	}
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if d, ok := child.Deadline(); !ok || !d.Equal(start.Add(50*time.Millisecond)) {
		t.Fatalf("child Deadline() = %v, %v", d, ok)
	}
	if err := ctx.extend(time.Hour); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if d, _ := child.Deadline(); d.Before(start.Add(59 * time.Minute)) {
		t.Fatalf("child Deadline() after extend = %v", d)
	}
	if err := ctx.extend(10 * time.Millisecond); err != nil {
		t.Fatalf("extend: %v", err)
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context did not end at its deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, Cause = %v", ctx.Err(), context.Cause(ctx))
	}
	if !errors.Is(context.Cause(child), context.DeadlineExceeded) {
		t.Fatalf("child Cause = %v", context.Cause(child))
	}
	if err := ctx.extend(time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("extend after the deadline: err = %v", err)
	}
}

func TestCallContextNoDeadline(t *testing.T) {
	type key struct{}
	parent := context.WithValue(t.Context(), key{}, "v")
	s := &session{calls: map[callKey]*callContext{}}
	ctx := newCallContext(parent, s, callKey{"id", 1}, &Request{}, nil)
	defer ctx.release()
	s.track(ctx)
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("Deadline() reported one")
	}
	if v := ctx.Value(key{}); v != "v" {
		t.Fatalf("Value = %v, want the parent's", v)
	}
	s.endCalls(ErrDisconnected)
	for _, c := range []*callContext{ctx, newCallContext(parent, s, callKey{"id", 2}, &Request{}, nil)} {
		s.track(c) // a call tracked after the end ends at once
		<-c.Done()
		if !errors.Is(c.Err(), context.Canceled) || !errors.Is(context.Cause(c), ErrDisconnected) {
			t.Fatalf("Err() = %v, Cause = %v", c.Err(), context.Cause(c))
		}
	}
}

func TestCallContextParentDeadline(t *testing.T) {
	d := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(t.Context(), d)
	defer cancel()
	ctx := newCallContext(parent, nil, callKey{"id", 1}, &Request{Deadline: d.Add(time.Minute)}, nil)
	defer ctx.release()
	if got, ok := ctx.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline() = %v, %v, want the parent's %v", got, ok, d)
	}
}

func TestExtendDeadlineOutsideHandler(t *testing.T) {
	if err := ExtendDeadline(t.Context(), time.Second); !errors.Is(err, ErrNotHandlerContext) {
		t.Fatalf("err = %v", err)
	}
}

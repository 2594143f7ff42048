package sidecar

import (
	"context"
	"fmt"
	"sync"
	"testing"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// A client asks for batches as large as its concurrency, serves every
// request of a RequestBatch, and answers them (alone or in ReplyBatches no
// larger than the sidecar allows) exactly once.
func TestStreamBatches(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr, WithMaxInFlight(8))
	var started sync.WaitGroup
	started.Add(6)
	release := make(chan struct{})
	if err := c.HandleFunc("echo", "/echo", func(ctx context.Context, r *Request) (*Response, error) {
		started.Done()
		<-release
		return &Response{Body: r.Body}, nil
	}); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	r := s.MustRecv().GetRegister()
	if r.GetMaxBatch() != 8 {
		t.Fatalf("Register.max_batch = %d, want 8 (the concurrency)", r.GetMaxBatch())
	}
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Registered{Registered: &pb.Registered{
		App: "echo", Owner: "bob@example.com", MaxInFlight: 8, MaxBatch: 4,
	}}})
	batch := &pb.RequestBatch{}
	for i := range 6 {
		id := fmt.Sprint("b", i)
		batch.Requests = append(batch.Requests, &pb.Request{Id: id, Attempt: 1, App: "echo", Endpoint: "/echo", Body: []byte(id)})
	}
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Requests{Requests: batch}})
	started.Wait() // all six run at once
	close(release)
	got := map[string]bool{}
	for len(got) < 6 {
		m := s.MustRecv()
		reps := m.GetReplies().GetReplies()
		if m.GetReply() != nil {
			reps = []*pb.Reply{m.GetReply()}
		} else if len(reps) < 2 || len(reps) > 4 {
			t.Fatalf("a ReplyBatch of %d, want 2-4", len(reps))
		}
		for _, rep := range reps {
			if got[rep.GetRequestId()] || string(rep.GetBody()) != rep.GetRequestId() {
				t.Fatalf("reply %v twice or wrong", rep)
			}
			got[rep.GetRequestId()] = true
		}
	}
}

// batch sends a lone reply as it came, packs waiting ones into a
// ReplyBatch once the sidecar takes them, and hands back the message that
// ended the batch.
func TestSessionBatch(t *testing.T) {
	reply := func(id string) *pb.ConnectRequest {
		return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Reply{Reply: &pb.Reply{RequestId: id}}}
	}
	ext := &pb.ConnectRequest{Msg: &pb.ConnectRequest_ExtendDeadline{ExtendDeadline: &pb.ExtendDeadline{RequestId: "x"}}}
	s := &session{sendc: make(chan *pb.ConnectRequest, 8)}
	a := reply("a")
	s.sendc <- reply("b")
	if out, next := s.batch(a); out != a || next != nil {
		t.Fatalf("before the sidecar takes batches: got %v, %v", out, next)
	}
	s.maxBatch.Store(8)
	for _, m := range []*pb.ConnectRequest{reply("c"), ext, reply("d")} {
		s.sendc <- m
	}
	out, next := s.batch(a)
	if n := len(out.GetReplies().GetReplies()); n != 3 || next != ext {
		t.Fatalf("got a batch of %d and next %v, want 3 (a b c) and the extension", n, next)
	}
}

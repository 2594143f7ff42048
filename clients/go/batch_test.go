package sidecar

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// A client asks for batches as large as its concurrency, serves every
// request of a RequestBatch, and answers them (alone or in ReplyBatches no
// larger than the sidecar allows) exactly once.
func TestStreamBatches(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr, WithConcurrency(8))
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

// batch packs the replies queued behind one, up to the sidecar's size and
// the byte limit, and hands back the first message that ends the batch.
func TestSessionBatch(t *testing.T) {
	s := &session{sendc: make(chan *pb.ConnectRequest, 16)}
	s.maxBatch.Store(3)
	reply := func(id string, n int) *pb.ConnectRequest {
		return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Reply{Reply: &pb.Reply{RequestId: id, Body: []byte(strings.Repeat("x", n))}}}
	}
	ext := &pb.ConnectRequest{Msg: &pb.ConnectRequest_ExtendDeadline{ExtendDeadline: &pb.ExtendDeadline{RequestId: "x"}}}
	for _, m := range []*pb.ConnectRequest{
		reply("a", 1), reply("b", 1), reply("c", 1), reply("d", 1), ext,
		reply("e", 1), reply("big", maxBatchBytes), reply("f", 1),
	} {
		s.sendc <- m
	}
	var sent []string
	var next *pb.ConnectRequest
	for len(s.sendc) > 0 || next != nil {
		m := next
		if m == nil {
			m = <-s.sendc
		}
		m, next = s.batch(m)
		switch {
		case m.GetExtendDeadline() != nil:
			sent = append(sent, "extend")
		case m.GetReply() != nil:
			sent = append(sent, m.GetReply().GetRequestId())
		default:
			var ids []string
			for _, r := range m.GetReplies().GetReplies() {
				ids = append(ids, r.GetRequestId())
			}
			sent = append(sent, "["+strings.Join(ids, " ")+"]")
		}
	}
	if got, want := strings.Join(sent, " "), "[a b c] d extend e big f"; got != want {
		t.Fatalf("sent %s, want %s", got, want)
	}
}

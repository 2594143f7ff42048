package bridge

import (
	"testing"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// batchFrom sends a lone request as it came, packs waiting ones into a
// RequestBatch, and hands back the message that ended the batch.
func TestBatchFrom(t *testing.T) {
	req := func(id string) *pb.ConnectResponse {
		return &pb.ConnectResponse{Msg: &pb.ConnectResponse_Request{Request: &pb.Request{Id: id}}}
	}
	s := &stream{send: make(chan *pb.ConnectResponse, 8)}
	s.batch.Store(8)
	a := req("a")
	if out, next := s.batchFrom(a, a.GetRequest()); out != a || next != nil {
		t.Fatalf("a lone request: got %v, %v", out, next)
	}
	cancel := &pb.ConnectResponse{Msg: &pb.ConnectResponse_Cancel{Cancel: &pb.Cancel{RequestId: "a"}}}
	for _, m := range []*pb.ConnectResponse{req("b"), req("c"), cancel, req("d")} {
		s.send <- m
	}
	out, next := s.batchFrom(a, a.GetRequest())
	if n := len(out.GetRequests().GetRequests()); n != 3 || next != cancel {
		t.Fatalf("got a batch of %d and next %v, want 3 (a b c) and the Cancel", n, next)
	}
}

package bridge

import (
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
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

// The stream turns the dispatcher's deliveries and notices into protobuf,
// and replies back, keeping an empty body apart from none.
func TestStreamConversions(t *testing.T) {
	s := &stream{send: make(chan *pb.ConnectResponse, 8)}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	req := &syftrpc.Request{ID: "a", Sender: "bob@example.org", URL: "syft://alice@example.org/app_data/app/rpc/echo", Method: "POST", Body: []byte("x"), Created: now, Expires: now.Add(time.Hour)}
	if !s.deliver(delivery{req: req, attempt: 2, app: "app", endpoint: "/echo", deadline: now.Add(time.Minute), path: "p"}) {
		t.Fatal("deliver: no room")
	}
	s.cancel("a", 2)
	s.refuse(problem{stale: true, id: "a", attempt: 1, msg: "stale"})
	s.refuse(problem{id: "a", attempt: 2, msg: "invalid"})
	r := (<-s.send).GetRequest()
	if r.GetId() != "a" || r.GetAttempt() != 2 || r.GetApp() != "app" || r.GetEndpoint() != "/echo" || r.GetPath() != "p" ||
		string(r.GetBody()) != "x" || !r.GetDeadline().AsTime().Equal(now.Add(time.Minute)) || !r.GetCreated().AsTime().Equal(now) {
		t.Fatalf("request %v", r)
	}
	if c := (<-s.send).GetCancel(); c.GetRequestId() != "a" || c.GetAttempt() != 2 || c.GetReason() != pb.CancelReason_CANCEL_REASON_DEADLINE_EXCEEDED {
		t.Fatalf("cancel %v", c)
	}
	if e := (<-s.send).GetError(); e.GetCode() != pb.ErrorCode_ERROR_CODE_STALE_REPLY || e.GetAttempt() != 1 {
		t.Fatalf("stale %v", e)
	}
	if e := (<-s.send).GetError(); e.GetCode() != pb.ErrorCode_ERROR_CODE_INVALID_REPLY || e.GetMessage() != "invalid" {
		t.Fatalf("invalid %v", e)
	}
	if got := replyFromPB(&pb.Reply{RequestId: "a", Attempt: 3, StatusCode: 201, Body: []byte{}}); got.body == nil || got.code != 201 || got.attempt != 3 {
		t.Fatalf("an empty body: %+v", got)
	}
	if got := replyFromPB(&pb.Reply{RequestId: "a"}); got.body != nil || got.code != 0 {
		t.Fatalf("no body: %+v", got)
	}
}

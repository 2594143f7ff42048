package bridge

import (
	"strings"
	"testing"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

func reqMsg(id string, body int) *pb.ConnectResponse {
	return &pb.ConnectResponse{Msg: &pb.ConnectResponse_Request{Request: &pb.Request{Id: id, Body: []byte(strings.Repeat("x", body))}}}
}

func ids(m *pb.ConnectResponse) string {
	if r := m.GetRequest(); r != nil {
		return r.GetId()
	}
	var out []string
	for _, r := range m.GetRequests().GetRequests() {
		out = append(out, r.GetId())
	}
	return "[" + strings.Join(out, " ") + "]"
}

// batchFrom packs what is queued, stops at the batch size, at the byte
// limit and at the first message that is not a Request, and hands that one
// back so that nothing is reordered or lost.
func TestBatchFrom(t *testing.T) {
	s := &stream{send: make(chan *pb.ConnectResponse, 16)}
	s.batch.Store(3)
	cancel := &pb.ConnectResponse{Msg: &pb.ConnectResponse_Cancel{Cancel: &pb.Cancel{RequestId: "c"}}}
	for _, m := range []*pb.ConnectResponse{
		reqMsg("a", 1), reqMsg("b", 1), reqMsg("c", 1), reqMsg("d", 1), cancel,
		reqMsg("e", 1), reqMsg("big", maxBatchBytes), reqMsg("f", 1),
	} {
		s.send <- m
	}
	var sent []string
	var held *pb.ConnectResponse
	for len(s.send) > 0 || held != nil {
		m := held
		if m == nil {
			m = <-s.send
		}
		held = nil
		if r := m.GetRequest(); r != nil {
			m, held = s.batchFrom(m, r)
		}
		if m.GetCancel() != nil {
			sent = append(sent, "cancel")
			continue
		}
		sent = append(sent, ids(m))
	}
	want := "[a b c] d cancel e big f"
	if got := strings.Join(sent, " "); got != want {
		t.Fatalf("sent %s, want %s", got, want)
	}
}

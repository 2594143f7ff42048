package e2e

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// A handler that asks for batches gets each waiting request once, in
// RequestBatches no larger than it asked for; a ReplyBatch answers them, and
// a bad or stale reply in it is refused on its own while the rest are
// written. A handler that does not ask never sees a batch.
func TestBatches(t *testing.T) {
	e := newEnv(t)
	e.start()
	const n = 24
	bodies := map[string]string{} // id -> body
	paths := map[string]string{}
	for i := range n {
		body := fmt.Sprintf(`{"n":%d}`, i)
		id, p := e.drop(request{app: "batch", endpoint: "/echo", body: []byte(body)})
		bodies[id], paths[id] = body, p
	}

	s := e.mustEvStream(t)
	s.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Register{Register: &pb.Register{
		App: "batch", Endpoints: []*pb.Endpoint{{Path: "/echo"}}, MaxInFlight: n, MaxBatch: 5,
	}}})
	reg := s.next("Registered", func(m *pb.ConnectResponse) bool { return m.GetRegistered() != nil }).GetRegistered()
	if reg.GetMaxBatch() != 5 {
		t.Fatalf("Registered.max_batch = %d, want 5", reg.GetMaxBatch())
	}
	got := map[string]*pb.Request{}
	msgs := 0
	for len(got) < n {
		msgs++
		m := s.next("requests", func(m *pb.ConnectResponse) bool { return m.GetRequest() != nil || m.GetRequests() != nil })
		reqs := m.GetRequests().GetRequests()
		if m.GetRequest() != nil {
			reqs = []*pb.Request{m.GetRequest()}
		} else if len(reqs) < 2 || len(reqs) > 5 {
			t.Fatalf("a batch of %d requests, want 2-5", len(reqs))
		}
		for _, r := range reqs {
			if _, dup := got[r.GetId()]; dup || bodies[r.GetId()] == "" {
				t.Fatalf("request %s delivered twice or unknown", r.GetId())
			}
			got[r.GetId()] = r
		}
	}

	t.Logf("%d requests in %d messages", n, msgs)

	// One ReplyBatch for all: the first with a status no file may hold,
	// plus a reply to a request that is not in flight.
	var first *pb.Request
	batch := &pb.ReplyBatch{Replies: []*pb.Reply{{RequestId: "00000000-0000-4000-8000-000000000000", Attempt: 1, StatusCode: 200}}}
	for id, r := range got {
		rep := &pb.Reply{RequestId: id, Attempt: r.GetAttempt(), Body: []byte(bodies[id])}
		if first == nil {
			first, rep.StatusCode = r, 700
		}
		batch.Replies = append(batch.Replies, rep)
	}
	s.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Replies{Replies: batch}})
	codes := map[pb.ErrorCode]string{}
	for len(codes) < 2 {
		er := s.next("errors", func(m *pb.ConnectResponse) bool { return m.GetError() != nil }).GetError()
		codes[er.GetCode()] = er.GetRequestId()
	}
	if codes[pb.ErrorCode_ERROR_CODE_INVALID_REPLY] != first.GetId() || codes[pb.ErrorCode_ERROR_CODE_STALE_REPLY] == "" {
		t.Fatalf("errors %v, want INVALID_REPLY for %s and one STALE_REPLY", codes, first.GetId())
	}
	for id, p := range paths {
		if id == first.GetId() {
			continue
		}
		wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, bodies[id])
	}
	// The refused reply left its request in flight: a corrected one lands.
	s.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Reply{Reply: &pb.Reply{
		RequestId: first.GetId(), Attempt: first.GetAttempt(), StatusCode: 201, Body: []byte("fixed"),
	}}})
	wantResponse(t, sidecartest.MustResponse(t, paths[first.GetId()], 10*time.Second), 201, "fixed")

	// Without max_batch: Registered says 1, and requests come one by one.
	plain := e.mustEvStream(t)
	plain.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Register{Register: &pb.Register{
		App: "plain", Endpoints: []*pb.Endpoint{{Path: "/echo"}}, MaxInFlight: 8,
	}}})
	if mb := plain.next("Registered", func(m *pb.ConnectResponse) bool { return m.GetRegistered() != nil }).GetRegistered().GetMaxBatch(); mb != 1 {
		t.Fatalf("Registered.max_batch = %d without asking, want 1", mb)
	}
	e.MustRegistered(t, "plain", "echo")
	for range 8 {
		e.drop(request{app: "plain", endpoint: "/echo", body: []byte("p")})
	}
	for range 8 {
		m := plain.next("a request", func(m *pb.ConnectResponse) bool { return m.GetRequest() != nil || m.GetRequests() != nil })
		if m.GetRequests() != nil {
			t.Fatal("a batch for a handler that did not ask for one")
		}
	}
}

package bridge

import (
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// requestPB, which builds its messages in one allocation, gives the message
// that building each one apart gives, and survives a round trip through
// the wire format.
func TestRequestPB(t *testing.T) {
	created := time.Date(2026, 12, 4, 21, 0, 0, 123456789, time.UTC)
	dl := delivery{
		req: &syftrpc.Request{
			ID: "0b7e6f7c-2f0e-4a55-9d1e-6c1f3f1b9a10", Sender: "bob@example.org", URL: "syft://alice@example.org/app_data/app/rpc/echo",
			Method: "POST", Headers: map[string]string{"k": "v"}, Body: []byte("hi"),
			Created: created, Expires: created.Add(time.Hour),
		},
		attempt: 2, app: "app", endpoint: "/echo", deadline: created.Add(time.Minute),
		path: "alice@example.org/app_data/app/rpc/echo/bob@example.org/x.request",
	}
	want := &pb.ConnectResponse{Msg: &pb.ConnectResponse_Request{Request: &pb.Request{
		Id: dl.req.ID, Attempt: 2, App: "app", Endpoint: "/echo", Sender: dl.req.Sender, Url: dl.req.URL,
		Method: "POST", Headers: map[string]string{"k": "v"}, Body: []byte("hi"),
		Created: timestamppb.New(created), Expires: timestamppb.New(created.Add(time.Hour)),
		Deadline: timestamppb.New(created.Add(time.Minute)), Path: dl.path,
	}}}
	got := requestPB(dl)
	if !proto.Equal(got, want) {
		t.Fatalf("requestPB = %v, want %v", got, want)
	}
	wire, err := proto.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back := new(pb.ConnectResponse)
	if err := proto.Unmarshal(wire, back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, want) {
		t.Fatalf("after the wire: %v, want %v", back, want)
	}
}

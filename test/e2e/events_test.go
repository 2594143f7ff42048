package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// evStream is a raw Connect stream that subscribes and reads events.
type evStream struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[pb.ConnectRequest, pb.ConnectResponse]
	cancel context.CancelFunc
	msgs   chan *pb.ConnectResponse
	err    error // why the stream ended, once msgs is closed
}

func (e *env) mustEvStream(t *testing.T) *evStream {
	t.Helper()
	cc, err := grpc.NewClient(e.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := pb.NewSidecarServiceClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &evStream{t: t, stream: st, cancel: cancel, msgs: make(chan *pb.ConnectResponse, 1000)}
	go func() {
		defer close(s.msgs)
		for {
			m, err := st.Recv()
			if err != nil {
				s.err = err
				return
			}
			s.msgs <- m
		}
	}()
	t.Cleanup(func() { cancel(); cc.Close() })
	return s
}

func (s *evStream) send(m *pb.ConnectRequest) {
	s.t.Helper()
	if err := s.stream.Send(m); err != nil {
		s.t.Fatal(err)
	}
}

// next returns the next message that keep accepts.
func (s *evStream) next(what string, keep func(*pb.ConnectResponse) bool) *pb.ConnectResponse {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatalf("stream ended waiting for %s", what)
			}
			if keep(m) {
				return m
			}
		case <-deadline:
			s.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *evStream) subscribed(id string) *pb.Subscribed {
	s.t.Helper()
	return s.next("subscribed "+id, func(m *pb.ConnectResponse) bool { return m.GetSubscribed().GetId() == id }).GetSubscribed()
}

func (s *evStream) fileEvent(what string) *pb.FileEvent {
	s.t.Helper()
	return s.next(what, func(m *pb.ConnectResponse) bool { return m.GetFileEvent() != nil }).GetFileEvent()
}

func (s *evStream) listenerEvent(what string) *pb.ListenerEvent {
	s.t.Helper()
	return s.next(what, func(m *pb.ConnectResponse) bool { return m.GetListenerEvent() != nil }).GetListenerEvent()
}

func watchMsg(id string, after *pb.Cursor, globs ...string) *pb.ConnectRequest {
	return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Watch{Watch: &pb.Watch{Id: id, Globs: globs, After: after,
		Kinds: []pb.FileEventKind{pb.FileEventKind_FILE_EVENT_KIND_CREATED, pb.FileEventKind_FILE_EVENT_KIND_MODIFIED,
			pb.FileEventKind_FILE_EVENT_KIND_MOVED, pb.FileEventKind_FILE_EVENT_KIND_DELETED}}}}
}

func mustWrite(t *testing.T, p, data string) {
	t.Helper()
	MustMkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each kind, for a file in new nested folders and for one renamed in; a
// write storm is one MODIFY; only the owner's tree is watched.
func TestFileEvents(t *testing.T) {
	e := newEnv(t)
	e.start()
	s := e.mustEvStream(t)
	s.send(watchMsg("j", nil, "{datasite}/**/*.json"))
	sub := s.subscribed("j")
	if len(sub.GetRoots()) != 1 || sub.GetRoots()[0] != owner || sub.GetCursor().GetRun() == "" {
		t.Fatalf("subscribed = %v, want the owner's datasite as the one root", sub)
	}
	ds := filepath.Join(e.Path, "datasites", owner)

	x := filepath.Join(ds, "a/b/c/x.json")
	mustWrite(t, x, "1") // mkdir -p a/b/c && write x.json
	ev := s.fileEvent("x created")
	if ev.GetKind() != pb.FileEventKind_FILE_EVENT_KIND_CREATED || ev.GetPath() != owner+"/a/b/c/x.json" || ev.GetWatchId() != "j" {
		t.Fatalf("event = %v", ev)
	}
	f, err := os.OpenFile(x, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		f.WriteString("more")
	}
	f.Close()
	if ev := s.fileEvent("x modified"); ev.GetKind() != pb.FileEventKind_FILE_EVENT_KIND_MODIFIED {
		t.Fatalf("event = %v", ev)
	}
	y := filepath.Join(ds, "y.json")
	if err := os.Rename(x, y); err != nil {
		t.Fatal(err)
	}
	if ev := s.fileEvent("move"); ev.GetKind() != pb.FileEventKind_FILE_EVENT_KIND_MOVED || ev.GetFrom() != owner+"/a/b/c/x.json" || ev.GetPath() != owner+"/y.json" {
		t.Fatalf("event = %v", ev)
	}
	mustWrite(t, filepath.Join(ds, "skip.csv"), "no")
	mustWrite(t, filepath.Join(e.Path, "datasites", "carol@example.com", "z.json"), "not watched")
	if err := os.Remove(y); err != nil {
		t.Fatal(err)
	}
	// The .csv and carol's file were written before the removal: the next
	// event is the DELETE, so neither was reported.
	if ev := s.fileEvent("delete"); ev.GetKind() != pb.FileEventKind_FILE_EVENT_KIND_DELETED || ev.GetPath() != owner+"/y.json" {
		t.Fatalf("event = %v", ev)
	}
}

// SHARE for a syft.pub.yaml, and a custom event from one stream reaching a
// listener on another.
func TestListeners(t *testing.T) {
	e := newEnv(t)
	e.start()
	l := e.mustEvStream(t)
	l.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Listen{Listen: &pb.Listen{Id: "all"}}})
	l.subscribed("all")
	perm := filepath.Join(e.Path, "datasites", owner, "public", "syft.pub.yaml")
	mustWrite(t, perm, "rules: []")
	if ev := l.listenerEvent("create"); ev.GetName() != "CREATE" || ev.GetData() != owner+"/public/syft.pub.yaml" {
		t.Fatalf("event = %v", ev)
	}
	if ev := l.listenerEvent("share"); ev.GetName() != "SHARE" || ev.GetListenerId() != "all" {
		t.Fatalf("event = %v", ev)
	}
	p := e.mustEvStream(t)
	p.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Publish{Publish: &pb.Publish{Name: "model-ready", Data: "v2"}}})
	if ev := l.listenerEvent("custom"); ev.GetName() != "model-ready" || ev.GetData() != "v2" {
		t.Fatalf("event = %v", ev)
	}
}

// A client that reconnects with its cursor gets what it missed, once; after
// a sidecar restart it is told it missed events.
func TestEventResume(t *testing.T) {
	e := newEnv(t)
	e.start()
	ds := filepath.Join(e.Path, "datasites", owner)
	first := e.mustEvStream(t)
	first.send(watchMsg("w", nil, "{datasite}/*.txt"))
	first.subscribed("w")
	mustWrite(t, filepath.Join(ds, "1.txt"), "1")
	last := first.fileEvent("1.txt").GetCursor()
	first.cancel() // the connection drops
	for _, n := range []string{"2", "3"} {
		mustWrite(t, filepath.Join(ds, n+".txt"), n)
	}
	// Both are in the log before the client comes back: a watcher that
	// sees them proves it.
	probe := e.mustEvStream(t)
	probe.send(watchMsg("p", &pb.Cursor{Run: last.GetRun(), Seq: last.GetSeq()}, "{datasite}/*.txt"))
	probe.fileEvent("2.txt")
	probe.fileEvent("3.txt")

	again := e.mustEvStream(t)
	again.send(watchMsg("w", last, "{datasite}/*.txt"))
	var got []string
	for len(got) < 2 {
		ev := again.fileEvent("replayed")
		got = append(got, strings.TrimPrefix(ev.GetPath(), owner+"/"))
	}
	if got[0] != "2.txt" || got[1] != "3.txt" {
		t.Fatalf("replayed %v, want 2.txt, 3.txt", got)
	}

	// Restart: the old cursor belongs to another run.
	if code := e.sidecar.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	e.start()
	after := e.mustEvStream(t)
	after.send(watchMsg("w", last, "{datasite}/*.txt"))
	m := after.next("missed events", func(m *pb.ConnectResponse) bool { return m.GetMissedEvents() != nil }).GetMissedEvents()
	if !m.GetRestarted() || m.GetReason() != "restart" || m.GetId() != "w" {
		t.Fatalf("missed = %v", m)
	}
}

// A client whose cursor is older than the log (a tiny --event-buffer) is
// told exactly which events are gone, then gets the rest.
func TestEventsCompacted(t *testing.T) {
	e := newEnv(t, "--event-buffer", "2")
	e.start()
	ds := filepath.Join(e.Path, "datasites", owner)
	s := e.mustEvStream(t)
	s.send(watchMsg("w", nil, "{datasite}/*.txt"))
	s.subscribed("w")
	mustWrite(t, filepath.Join(ds, "1.txt"), "1")
	first := s.fileEvent("1.txt").GetCursor()
	for _, n := range []string{"2", "3", "4"} {
		mustWrite(t, filepath.Join(ds, n+".txt"), n)
		s.fileEvent(n + ".txt")
	}
	again := e.mustEvStream(t)
	again.send(watchMsg("w", first, "{datasite}/*.txt"))
	m := again.next("missed", func(m *pb.ConnectResponse) bool { return m.GetMissedEvents() != nil }).GetMissedEvents()
	if m.GetReason() != "compacted" || m.GetFromSeq() != first.GetSeq()+1 || m.GetToSeq() != first.GetSeq()+1 {
		t.Fatalf("missed = %v, want seq %d compacted", m, first.GetSeq()+1)
	}
	for _, want := range []string{"3.txt", "4.txt"} {
		if ev := again.fileEvent(want); ev.GetPath() != owner+"/"+want {
			t.Fatalf("event = %v, want %s", ev, want)
		}
	}
}

package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

func (s *fakeStream) SendSubscribed(id, run string, seq uint64) {
	s.t.Helper()
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_Subscribed{Subscribed: &pb.Subscribed{
		Id: id, Cursor: &pb.Cursor{Run: run, Seq: seq}, Roots: []string{"bob@example.com"},
	}}})
}

func (s *fakeStream) SendFileEvent(id, run string, seq uint64, kind pb.FileEventKind, path string) {
	s.t.Helper()
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_FileEvent{FileEvent: &pb.FileEvent{
		WatchId: id, Cursor: &pb.Cursor{Run: run, Seq: seq}, Kind: kind, Path: path,
	}}})
}

func (s *fakeStream) SendListenerEvent(id, run string, seq uint64, name, data string) {
	s.t.Helper()
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_ListenerEvent{ListenerEvent: &pb.ListenerEvent{
		ListenerId: id, Cursor: &pb.Cursor{Run: run, Seq: seq}, Name: name, Data: data,
	}}})
}

func (s *fakeStream) SendMissed(m *pb.MissedEvents) {
	s.t.Helper()
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_MissedEvents{MissedEvents: m}})
}

// MustRecvWatch waits for the next message and checks it is a Watch.
func (s *fakeStream) MustRecvWatch() *pb.Watch {
	s.t.Helper()
	m := s.MustRecv()
	if m.GetWatch() == nil {
		s.t.Fatalf("got %v, want a Watch", m)
	}
	return m.GetWatch()
}

// MustRecvListen waits for the next message and checks it is a Listen.
func (s *fakeStream) MustRecvListen() *pb.Listen {
	s.t.Helper()
	m := s.MustRecv()
	if m.GetListen() == nil {
		s.t.Fatalf("got %v, want a Listen", m)
	}
	return m.GetListen()
}

// MustGet waits for the next value on ch.
func MustGet[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
		var zero T
		return zero
	}
}

// mustNone checks that nothing arrives on ch for a moment.
func mustNone[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected callback with %v", v)
	case <-time.After(100 * time.Millisecond):
	}
}

// fileEvents returns a watch callback and the channel it reports on.
func fileEvents() (func(context.Context, FileEvent), <-chan FileEvent) {
	ch := make(chan FileEvent, 64)
	return func(_ context.Context, ev FileEvent) { ch <- ev }, ch
}

type named struct{ name, data string }

// listenerEvents returns a listener callback and the channel it reports on.
func listenerEvents() (func(string, string), <-chan named) {
	ch := make(chan named, 64)
	return func(name, data string) { ch <- named{name, data} }, ch
}

func missedEvents() (Option, <-chan MissedEvents) {
	ch := make(chan MissedEvents, 64)
	return WithOnMissed(func(m MissedEvents) { ch <- m }), ch
}

func mustPath(t *testing.T, ch <-chan FileEvent, want string, seq uint64) FileEvent {
	t.Helper()
	ev := MustGet(t, ch)
	if ev.Path != want || ev.Cursor.Seq != seq {
		t.Fatalf("event %s #%d, want %s #%d", ev.Path, ev.Cursor.Seq, want, seq)
	}
	return ev
}

func mustNamed(t *testing.T, ch <-chan named, name, data string) {
	t.Helper()
	if got := MustGet(t, ch); got != (named{name, data}) {
		t.Fatalf("listener got %v, want %s %s", got, name, data)
	}
}

func TestWatchErrors(t *testing.T) {
	c := MustNew(t, "unix://"+filepath.Join(t.TempDir(), "none.sock"), WithBackoff(time.Millisecond, 10*time.Millisecond))
	f, _ := fileEvents()
	for _, tt := range []struct {
		name  string
		globs []string
		opts  []WatchOption
		want  string
	}{
		{"no globs", nil, nil, "no globs"},
		{"empty glob", []string{" "}, nil, "empty pattern"},
		{"bad glob", []string{"{datasite}/[a"}, nil, "not a valid glob"},
		{"dotdot", []string{"{datasite}/../x"}, nil, `".." segments`},
		{"app_data without app", []string{"{app_data}/**"}, nil, "needs WithWatchApp"},
		{"no kinds", []string{"**"}, []WatchOption{WithKinds()}, "no kinds"},
		{"bad kind", []string{"**"}, []WatchOption{WithKinds(Created, 9)}, "unknown kind 9"},
		{"bad app", []string{"**"}, []WatchOption{WithWatchApp("my app")}, "app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Watch(tt.globs, f, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Watch: err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if err := c.Watch([]string{"**"}, nil); err == nil {
		t.Fatal("Watch(nil): no error")
	}
	if _, err := c.AddListener(nil); err == nil {
		t.Fatal("AddListener(nil): no error")
	}
	if _, err := c.AddListener(func(string, string) {}, "SHARE", ""); err == nil {
		t.Fatal("AddListener with an empty name: no error")
	}
	if err := c.Publish(t.Context(), "ping", "x"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish before Run: err = %v", err)
	}

	// A watch alone is something to serve.
	if err := c.Watch([]string{"{datasite}/**/*.json"}, f); err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c.mu.Lock()
		started := c.state == stateStarted
		c.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Watch([]string{"**"}, f); !errors.Is(err, ErrStarted) {
		t.Fatalf("Watch while running: err = %v", err)
	}
	if err := c.Publish(t.Context(), "ping", "x"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish with no sidecar: err = %v", err)
	}
	stop()
	c.Close()
	if err := c.Watch([]string{"**"}, f); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close: err = %v", err)
	}
	if _, err := c.AddListener(func(string, string) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddListener after Close: err = %v", err)
	}
}

func TestEventsSubscribe(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	w, _ := fileEvents()
	if err := c.Watch([]string{"{app_data}/inbox/*.json", "{datasite}/public/**"}, w,
		WithKinds(Created, Deleted), WithDirs(), WithWatchApp("echo")); err != nil {
		t.Fatal(err)
	}
	if err := c.Watch([]string{"**/*.csv"}, w); err != nil {
		t.Fatal(err)
	}
	l, _ := listenerEvents()
	lis, err := c.AddListener(l, "SHARE", "model-ready")
	if err != nil {
		t.Fatal(err)
	}
	if lis.ID() != "l1" {
		t.Fatalf("listener id %q", lis.ID())
	}
	runClient(t, c)
	s := f.MustStream(t)
	// The app first, as the contract wants, then the subscriptions in the
	// order they were made.
	s.MustRegister()
	w1 := s.MustRecvWatch()
	if w1.GetId() != "w1" || !slices.Equal(w1.GetGlobs(), []string{"{app_data}/inbox/*.json", "{datasite}/public/**"}) ||
		!slices.Equal(w1.GetKinds(), []pb.FileEventKind{pb.FileEventKind_FILE_EVENT_KIND_CREATED, pb.FileEventKind_FILE_EVENT_KIND_DELETED}) ||
		!w1.GetIncludeDirs() || w1.GetApp() != "echo" || w1.GetAfter() != nil {
		t.Fatalf("watch 1 = %v", w1)
	}
	// No kinds is the sidecar's default: created, modified, moved.
	if w2 := s.MustRecvWatch(); w2.GetId() != "w2" || !slices.Equal(w2.GetGlobs(), []string{"**/*.csv"}) ||
		len(w2.GetKinds()) != 0 || w2.GetIncludeDirs() || w2.GetApp() != "" || w2.GetAfter() != nil {
		t.Fatalf("watch 2 = %v", w2)
	}
	if l1 := s.MustRecvListen(); l1.GetId() != "l1" || !slices.Equal(l1.GetNames(), []string{"SHARE", "model-ready"}) ||
		len(l1.GetGlobs()) != 0 || l1.GetAfter() != nil {
		t.Fatalf("listen = %v", l1)
	}
}

func TestEventsListenerOnly(t *testing.T) {
	// A client that only listens registers no app: its first message is
	// the Listen.
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	l, got := listenerEvents()
	if _, err := c.AddListener(l); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	if l1 := s.MustRecvListen(); l1.GetId() != "l1" || len(l1.GetNames()) != 0 {
		t.Fatalf("listen = %v", l1)
	}
	s.SendSubscribed("l1", "r1", 0)
	s.SendListenerEvent("l1", "r1", 1, "CREATE", "bob@example.com/a.txt")
	mustNamed(t, got, "CREATE", "bob@example.com/a.txt")
}

func TestEventsDispatch(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	w1, got1 := fileEvents()
	w2, got2 := fileEvents()
	l, gotL := listenerEvents()
	if err := c.Watch([]string{"a/**"}, w1); err != nil {
		t.Fatal(err)
	}
	if err := c.Watch([]string{"b/**"}, w2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddListener(l); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRecvWatch()
	s.MustRecvWatch()
	s.MustRecvListen()

	when := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s.MustSend(&pb.ConnectResponse{Msg: &pb.ConnectResponse_FileEvent{FileEvent: &pb.FileEvent{
		WatchId: "w1", Cursor: &pb.Cursor{Run: "r1", Seq: 1}, Kind: pb.FileEventKind_FILE_EVENT_KIND_MOVED,
		Path: "a/new.json", From: "a/old.json", IsDir: false, Time: timestamppb.New(when),
	}}})
	for i, p := range []string{"b/1", "a/2", "b/3", "a/4"} {
		id := map[byte]string{'a': "w1", 'b': "w2"}[p[0]]
		s.SendFileEvent(id, "r1", uint64(i+2), pb.FileEventKind_FILE_EVENT_KIND_CREATED, p)
		s.SendListenerEvent("l1", "r1", uint64(i+2), "CREATE", p)
	}
	// Messages for no subscription of this client are ignored.
	s.SendFileEvent("w9", "r1", 7, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "x")
	s.SendFileEvent("l1", "r1", 7, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "x")
	s.SendListenerEvent("w1", "r1", 7, "CREATE", "x")
	s.SendMissed(&pb.MissedEvents{Id: "l9", Reason: "slow"})
	s.SendListenerEvent("l1", "r1", 8, "model-ready", `{"v": 2}`)

	ev := MustGet(t, got1)
	want := FileEvent{Kind: Moved, Path: "a/new.json", From: "a/old.json", Time: when, Cursor: Cursor{"r1", 1}}
	if ev != want {
		t.Fatalf("event = %+v, want %+v", ev, want)
	}
	if ev.Kind.String() != "moved" {
		t.Fatalf("kind %q", ev.Kind)
	}
	mustPath(t, got1, "a/2", 3)
	mustPath(t, got1, "a/4", 5)
	if ev := mustPath(t, got2, "b/1", 2); ev.Kind != Created || !ev.Time.IsZero() {
		t.Fatalf("event = %+v", ev)
	}
	mustPath(t, got2, "b/3", 4)
	for _, p := range []string{"b/1", "a/2", "b/3", "a/4"} {
		mustNamed(t, gotL, "CREATE", p)
	}
	mustNamed(t, gotL, "model-ready", `{"v": 2}`)
	mustNone(t, got1)
	mustNone(t, got2)
}

// syncBuffer is a log destination the test reads while the client writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestListenerPanic(t *testing.T) {
	f := MustFakeSidecar(t)
	var logs syncBuffer
	c := MustNew(t, f.addr, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	got := make(chan named, 8)
	if _, err := c.AddListener(func(name, data string) {
		if data == "bad" {
			panic("listener bug")
		}
		got <- named{name, data}
	}); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRecvListen()
	s.SendListenerEvent("l1", "r1", 1, "CREATE", "bad")
	s.SendListenerEvent("l1", "r1", 2, "CREATE", "good")
	mustNamed(t, got, "CREATE", "good")
	out := logs.String()
	for _, want := range []string{"event callback panicked", "subscription=l1", "listener bug", "TestListenerPanic"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestEventsResume(t *testing.T) {
	f := MustFakeSidecar(t)
	onMissed, missed := missedEvents()
	c := MustNew(t, f.addr, onMissed, WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	w, got := fileEvents()
	if err := c.Watch([]string{"**"}, w); err != nil {
		t.Fatal(err)
	}
	l, gotL := listenerEvents()
	if _, err := c.AddListener(l); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRegister()
	s.MustRecvWatch()
	s.MustRecvListen()
	s.SendSubscribed("w1", "r1", 10)
	s.SendSubscribed("l1", "r1", 10)
	for seq := uint64(11); seq <= 13; seq++ {
		s.SendFileEvent("w1", "r1", seq, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "f")
	}
	for seq := uint64(11); seq <= 13; seq++ {
		mustPath(t, got, "f", seq)
	}
	s.end <- status.Error(codes.Unavailable, "connection lost")

	// The watch resumes after its last event; the listener, which had none,
	// after the cursor it subscribed at.
	s = f.MustStream(t)
	s.MustRegister()
	if after := s.MustRecvWatch().GetAfter(); after.GetRun() != "r1" || after.GetSeq() != 13 {
		t.Fatalf("watch resumes after %v, want r1/13", after)
	}
	if after := s.MustRecvListen().GetAfter(); after.GetRun() != "r1" || after.GetSeq() != 10 {
		t.Fatalf("listen resumes after %v, want r1/10", after)
	}
	// A sidecar that sends again what the client has is not believed.
	s.SendSubscribed("w1", "r1", 20)
	for seq := uint64(12); seq <= 15; seq++ {
		s.SendFileEvent("w1", "r1", seq, pb.FileEventKind_FILE_EVENT_KIND_MODIFIED, "g")
	}
	s.SendListenerEvent("l1", "r1", 14, "MODIFY", "g")
	s.SendSubscribed("l1", "r1", 20)
	mustPath(t, got, "g", 14)
	mustPath(t, got, "g", 15)
	mustNamed(t, gotL, "MODIFY", "g")
	mustNone(t, got)
	s.end <- status.Error(codes.Unavailable, "connection lost")

	// After a sidecar restart, the subscriptions follow the new run: a new
	// run's events come after any of the old one, and the next reconnect
	// asks for that run, so the restart is reported once.
	s = f.MustStream(t)
	s.MustRegister()
	if after := s.MustRecvWatch().GetAfter(); after.GetSeq() != 15 {
		t.Fatalf("watch resumes after %v, want r1/15", after)
	}
	s.MustRecvListen()
	s.SendMissed(&pb.MissedEvents{Id: "w1", Restarted: true, Reason: "restart"})
	s.SendSubscribed("w1", "r2", 3)
	s.SendMissed(&pb.MissedEvents{Id: "l1", Restarted: true, Reason: "restart"})
	s.SendSubscribed("l1", "r2", 3)
	s.SendFileEvent("w1", "r2", 4, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "h")
	mustPath(t, got, "h", 4)
	for range 2 {
		if m := MustGet(t, missed); !m.Restarted || m.Reason != "restart" {
			t.Fatalf("missed = %+v", m)
		}
	}
	s.end <- status.Error(codes.Unavailable, "connection lost")

	s = f.MustStream(t)
	s.MustRegister()
	if after := s.MustRecvWatch().GetAfter(); after.GetRun() != "r2" || after.GetSeq() != 4 {
		t.Fatalf("watch resumes after %v, want r2/4", after)
	}
	if after := s.MustRecvListen().GetAfter(); after.GetRun() != "r2" || after.GetSeq() != 3 {
		t.Fatalf("listen resumes after %v, want r2/3", after)
	}
	// A live event that overtakes the replay, and the notice of what the
	// buffer no longer held: until Subscribed the client holds them, then
	// tells the loss and delivers in cursor order, once each.
	s.SendFileEvent("w1", "r2", 9, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "live")
	s.SendMissed(&pb.MissedEvents{Id: "w1", FromSeq: 5, ToSeq: 6, Reason: "compacted"})
	s.SendFileEvent("w1", "r2", 7, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "replay")
	s.SendFileEvent("w1", "r2", 8, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "replay")
	s.SendFileEvent("w1", "r2", 9, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "live")
	mustNone(t, got)
	s.SendSubscribed("w1", "r2", 9)
	if m := MustGet(t, missed); m != (MissedEvents{ID: "w1", FromSeq: 5, ToSeq: 6, Reason: "compacted"}) {
		t.Fatalf("missed = %+v", m)
	}
	mustPath(t, got, "replay", 7)
	mustPath(t, got, "replay", 8)
	mustPath(t, got, "live", 9)
	mustNone(t, got)
}

func TestMissedEvents(t *testing.T) {
	f := MustFakeSidecar(t)
	onMissed, missed := missedEvents()
	c := MustNew(t, f.addr, onMissed)
	c.eventQueue = 2
	entered := make(chan string, 16)
	release := make(chan struct{})
	got := make(chan FileEvent, 16)
	if err := c.Watch([]string{"**"}, func(ctx context.Context, ev FileEvent) {
		entered <- ev.Path
		if ev.Path == "block" {
			<-release
		}
		got <- ev
	}); err != nil {
		t.Fatal(err)
	}
	// The second watch shows how far the client has read the stream: its
	// events are received in order with the first's.
	sync, synced := fileEvents()
	if err := c.Watch([]string{"sync"}, sync); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRecvWatch()
	s.MustRecvWatch()

	// A loss the sidecar reports arrives in its place among the events.
	s.SendFileEvent("w1", "r1", 1, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "a")
	s.SendMissed(&pb.MissedEvents{Id: "w1", FromSeq: 2, ToSeq: 9, Reason: "compacted"})
	s.SendFileEvent("w1", "r1", 10, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "b")
	mustPath(t, got, "a", 1)
	if m := MustGet(t, missed); m != (MissedEvents{ID: "w1", FromSeq: 2, ToSeq: 9, Reason: "compacted"}) {
		t.Fatalf("missed = %+v", m)
	}
	mustPath(t, got, "b", 10)

	// A callback slower than the events: the queue holds two, the client
	// drops the rest and says which.
	s.SendFileEvent("w1", "r1", 11, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "block")
	for range 3 {
		MustGet(t, entered)
	}
	for seq := uint64(12); seq <= 16; seq++ {
		s.SendFileEvent("w1", "r1", seq, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "c")
	}
	s.SendFileEvent("w2", "r1", 17, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "sync")
	MustGet(t, synced)
	close(release)
	mustPath(t, got, "block", 11)
	mustPath(t, got, "c", 12)
	mustPath(t, got, "c", 13)
	if m := MustGet(t, missed); m != (MissedEvents{ID: "w1", FromSeq: 14, ToSeq: 16, Reason: "slow"}) {
		t.Fatalf("missed = %+v", m)
	}
	s.SendFileEvent("w1", "r1", 18, pb.FileEventKind_FILE_EVENT_KIND_CREATED, "d")
	mustPath(t, got, "d", 18)
}

func TestPublishAndLiveListeners(t *testing.T) {
	f := MustFakeSidecar(t)
	c := MustNew(t, f.addr)
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	s := f.MustStream(t)
	s.MustRegister()

	if err := c.Publish(t.Context(), "model-ready", `{"round": 3}`); err != nil {
		t.Fatal(err)
	}
	if p := s.MustRecv().GetPublish(); p.GetName() != "model-ready" || p.GetData() != `{"round": 3}` {
		t.Fatalf("publish = %v", p)
	}
	if err := c.Publish(t.Context(), "", "x"); err == nil {
		t.Fatal("Publish with no name: no error")
	}

	// Listeners added while running go out on the live stream.
	l1, got1 := listenerEvents()
	lis1, err := c.AddListener(l1, "model-ready")
	if err != nil {
		t.Fatal(err)
	}
	if m := s.MustRecvListen(); m.GetId() != "l1" || !slices.Equal(m.GetNames(), []string{"model-ready"}) {
		t.Fatalf("listen = %v", m)
	}
	l2, got2 := listenerEvents()
	if _, err := c.AddListener(l2); err != nil {
		t.Fatal(err)
	}
	s.MustRecvListen()
	s.SendListenerEvent("l1", "r1", 1, "model-ready", "1")
	s.SendListenerEvent("l2", "r1", 1, "model-ready", "1")
	mustNamed(t, got1, "model-ready", "1")
	mustNamed(t, got2, "model-ready", "1")

	c.RemoveListener(lis1)
	c.RemoveListener(lis1) // twice does nothing
	if m := s.MustRecv().GetUnlisten(); m.GetId() != "l1" {
		t.Fatalf("unlisten = %v", m)
	}
	s.SendListenerEvent("l1", "r1", 2, "model-ready", "2")
	c.RemoveAllListeners()
	if m := s.MustRecv().GetUnlisten(); m.GetId() != "l2" {
		t.Fatalf("unlisten = %v", m)
	}
	s.SendListenerEvent("l2", "r1", 2, "model-ready", "2")
	mustNone(t, got1)
	mustNone(t, got2)
}

func TestSubscriptionQueueBounded(t *testing.T) {
	// No goroutine takes from the queue: what it holds is what a callback
	// stuck for good would leave behind.
	s := &subscription{id: "w1", max: 2}
	ev := func(seq uint64) bool {
		return s.offer(Cursor{"r1", seq}, delivery{file: FileEvent{Cursor: Cursor{"r1", seq}}})
	}
	for seq := uint64(1); seq <= 100; seq++ {
		ev(seq)
	}
	// A flood of notices from the sidecar merges instead of piling up.
	for range 100 {
		s.missed(MissedEvents{ID: "w1", Reason: "overflow"})
	}
	if ev(50) {
		t.Fatal("an event not after the last one was taken")
	}
	var got []string
	for {
		d, ok := s.next()
		if !ok {
			break
		}
		if d.missed != nil {
			got = append(got, fmt.Sprintf("missed %d-%d %s", d.missed.FromSeq, d.missed.ToSeq, d.missed.Reason))
		} else {
			got = append(got, fmt.Sprint("event ", d.file.Cursor.Seq))
		}
	}
	// The range became unknown when an overflow without one joined it.
	want := []string{"event 1", "event 2", "missed 0-0 slow"}
	if !slices.Equal(got, want) {
		t.Fatalf("queue = %q, want %q", got, want)
	}

	// Notices between events stay in place; adjacent ones merge.
	s.missed(MissedEvents{ID: "w1", FromSeq: 101, ToSeq: 110, Reason: "compacted"})
	s.missed(MissedEvents{ID: "w1", FromSeq: 111, ToSeq: 120, Reason: "slow"})
	ev(121)
	s.missed(MissedEvents{ID: "w1", Restarted: true, Reason: "restart"})
	got = got[:0]
	for d, ok := s.next(); ok; d, ok = s.next() {
		if d.missed != nil {
			got = append(got, fmt.Sprintf("missed %d-%d %s %v", d.missed.FromSeq, d.missed.ToSeq, d.missed.Reason, d.missed.Restarted))
		} else {
			got = append(got, fmt.Sprint("event ", d.file.Cursor.Seq))
		}
	}
	want = []string{"missed 101-120 compacted false", "event 121", "missed 0-0 restart true"}
	if !slices.Equal(got, want) {
		t.Fatalf("queue = %q, want %q", got, want)
	}
}

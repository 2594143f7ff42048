package events_test

import (
	"sync"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/events"
	"github.com/openmined/syft-sidecar/watchglob"
)

// sink is a bounded subscriber that records what it got.
type sink struct {
	mu     sync.Mutex
	room   int
	events []events.Event
	missed []events.Missed
}

func (s *sink) TryEvent(_ string, ev events.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events)+len(s.missed) >= s.room {
		return false
	}
	s.events = append(s.events, ev)
	return true
}

func (s *sink) TryMissed(_ string, m events.Missed) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events)+len(s.missed) >= s.room {
		return false
	}
	s.missed = append(s.missed, m)
	return true
}

func (s *sink) got() ([]events.Event, []events.Missed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Event(nil), s.events...), append([]events.Missed(nil), s.missed...)
}

// vars are the placeholders of bob's datasite and app.
var vars = watchglob.Vars{Email: "bob@example.com", App: "myapp"}

func MustPattern(t *testing.T, raw string) watchglob.Pattern {
	t.Helper()
	p, err := watchglob.Compile(raw, vars)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitEvents(t *testing.T, s *sink, n int) []events.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, _ := s.got()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want %d: %+v", len(evs), n, evs)
		}
		time.Sleep(time.Millisecond)
	}
}

func defaultWatch(t *testing.T, globs ...string) *events.Watch {
	w := &events.Watch{Kinds: map[events.Kind]bool{events.Create: true, events.Modify: true, events.Move: true}}
	for _, g := range globs {
		w.Patterns = append(w.Patterns, MustPattern(t, g))
	}
	return w
}

func TestHubKindsMovesAndCoalescing(t *testing.T) {
	h := events.NewHub(100, 20*time.Millisecond)
	defer h.Stop()
	s := &sink{room: 100}
	w := defaultWatch(t, "{datasite}/**/*.json")
	w.Kinds[events.Delete] = true
	h.Subscribe(s, "w", w, nil, "", 0)

	h.Created("bob@example.com/a.json", "", false)
	h.Created("bob@example.com/a.csv", "", false) // no match
	for i := 0; i < 50; i++ {
		h.Modified("bob@example.com/a.json") // a storm: one MODIFY
	}
	h.Deleted("bob@example.com/a.json", false)
	h.Created("bob@example.com/b.json", "bob@example.com/a.json", false) // the move's other half
	h.Created("bob@example.com/dir.json", "", true)                      // a folder: not asked for
	evs := waitEvents(t, s, 2)
	if evs[0].Kind != events.Create || evs[1].Kind != events.Move || evs[1].From != "bob@example.com/a.json" {
		t.Fatalf("events = %+v", evs)
	}
	// The removal half of the move never shows as a DELETE, and the storm
	// was cut short by it. A later write's MODIFY fires after any timer the
	// events above could have left, so once it is in, nothing else came.
	h.Modified("bob@example.com/z.json")
	evs = waitEvents(t, s, 3)
	if len(evs) != 3 || evs[2].Kind != events.Modify || evs[2].Path != "bob@example.com/z.json" {
		t.Fatalf("events = %+v, want CREATE, MOVE and the later MODIFY only", evs)
	}
}

func TestHubListenersShareAndCustom(t *testing.T) {
	h := events.NewHub(100, 5*time.Millisecond)
	defer h.Stop()
	all := &sink{room: 100}
	h.Subscribe(all, "l", nil, &events.Listen{Patterns: []watchglob.Pattern{MustPattern(t, "{datasite}/**")}}, "", 0)
	only := &sink{room: 100}
	h.Subscribe(only, "l", nil, &events.Listen{Names: map[string]bool{"ping": true}}, "", 0)

	h.Created("bob@example.com/public/syft.pub.yaml", "", false)
	h.Publish("ping", "hello")
	h.Publish("other", "x")
	evs := waitEvents(t, all, 4)
	kinds := []events.Kind{evs[0].Kind, evs[1].Kind, evs[2].Kind, evs[3].Kind}
	if kinds[0] != events.Create || kinds[1] != events.Share || evs[2].Name != "ping" || evs[3].Name != "other" {
		t.Fatalf("all = %+v", evs)
	}
	got := waitEvents(t, only, 1)
	if len(got) != 1 || got[0].Data != "hello" {
		t.Fatalf("only = %+v", got)
	}
}

func TestHubResumeAndSlowSubscriber(t *testing.T) {
	h := events.NewHub(3, 5*time.Millisecond)
	defer h.Stop()
	first := &sink{room: 100}
	run, _ := h.Subscribe(first, "w", defaultWatch(t, "**"), nil, "", 0)
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		h.Created(p, "", false)
	}
	// Resume after seq 3: 4 and 5 are held.
	again := &sink{room: 100}
	h.Subscribe(again, "w", defaultWatch(t, "**"), nil, run, 3)
	if evs, missed := again.got(); len(evs) != 2 || evs[0].Seq != 4 || len(missed) != 0 {
		t.Fatalf("resume after 3: %+v %+v", evs, missed)
	}
	// Resume after seq 1: 2 is gone from the 3-event log.
	late := &sink{room: 100}
	h.Subscribe(late, "w", defaultWatch(t, "**"), nil, run, 1)
	if evs, missed := late.got(); len(missed) != 1 || missed[0].From != 2 || missed[0].To != 2 || missed[0].Reason != "compacted" || len(evs) != 3 {
		t.Fatalf("resume after 1: %+v %+v", evs, missed)
	}
	// Another run: told it restarted.
	other := &sink{room: 100}
	h.Subscribe(other, "w", defaultWatch(t, "**"), nil, "old-run", 9)
	if _, missed := other.got(); len(missed) != 1 || !missed[0].Restarted {
		t.Fatalf("restart: %+v", missed)
	}
	// A slow subscriber: full after one event, then told the range it lost.
	slow := &sink{room: 1}
	h.Subscribe(slow, "w", defaultWatch(t, "**"), nil, "", 0)
	h.Created("f", "", false) // taken
	h.Created("g", "", false) // lost
	h.Created("h", "", false) // lost
	slow.mu.Lock()
	slow.room = 100
	slow.mu.Unlock()
	h.Created("i", "", false)
	evs, missed := slow.got()
	if len(evs) != 2 || evs[1].Path != "i" || len(missed) != 1 || missed[0].Reason != "slow" || missed[0].From != 7 || missed[0].To != 8 {
		t.Fatalf("slow: %+v %+v", evs, missed)
	}
}

// A resume from before a watched tree was dropped is told so: changes made
// while nothing watched were never logged.
func TestHubUnwatched(t *testing.T) {
	h := events.NewHub(100, 5*time.Millisecond)
	defer h.Stop()
	first := &sink{room: 100}
	run, _ := h.Subscribe(first, "w", defaultWatch(t, "**"), nil, "", 0)
	h.Created("a", "", false)
	h.NoteUnwatched()
	h.Created("b", "", false)
	again := &sink{room: 100}
	h.Subscribe(again, "w", defaultWatch(t, "**"), nil, run, 0)
	evs, missed := again.got()
	if len(missed) != 1 || missed[0].Reason != "unwatched" || len(evs) != 2 {
		t.Fatalf("resume from before the drop: %+v %+v", evs, missed)
	}
	// From the drop itself: the changes after it were never logged.
	at := &sink{room: 100}
	h.Subscribe(at, "w", defaultWatch(t, "**"), nil, run, 1)
	if _, missed := at.got(); len(missed) != 1 {
		t.Fatalf("resume from the drop: %+v", missed)
	}
	// From after it: nothing to report.
	late := &sink{room: 100}
	h.Subscribe(late, "w", defaultWatch(t, "**"), nil, run, 2)
	if _, missed := late.got(); len(missed) != 0 {
		t.Fatalf("resume from after the drop: %+v", missed)
	}
}

// Events lost while a subscriber was away (its stream cut) reach it when it
// resumes: the log itself shows no gap, so the hub must remember.
func TestHubLostWhileAway(t *testing.T) {
	h := events.NewHub(100, 5*time.Millisecond)
	defer h.Stop()
	first := &sink{room: 100}
	run, _ := h.Subscribe(first, "w", defaultWatch(t, "**"), nil, "", 0)
	h.Created("a", "", false)
	h.Drop(first)
	h.Lost("overflow")
	h.Created("b", "", false)
	again := &sink{room: 100}
	h.Subscribe(again, "w", defaultWatch(t, "**"), nil, run, 1)
	evs, missed := again.got()
	if len(missed) != 1 || missed[0].Reason != "overflow" || len(evs) != 1 || evs[0].Path != "b" {
		t.Fatalf("resume after a loss while away: %+v %+v", evs, missed)
	}
}

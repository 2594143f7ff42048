package events

import (
	"path"
	"sync"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/watchglob"
)

// Sink takes messages for one subscriber without ever blocking: false
// means it is full and the message was not taken.
type Sink interface {
	TryEvent(sub string, ev Event) bool
	TryMissed(sub string, m Missed) bool
}

// Missed tells a subscriber which events it will never get.
type Missed struct {
	Restarted bool
	From, To  uint64
	Reason    string // one of the pb.Missed* constants
}

// Watch is a file-event subscription.
type Watch struct {
	Patterns []watchglob.Pattern
	Kinds    map[Kind]bool // Create, Modify, Move, Delete
	Dirs     bool
}

// Listen is an AltaStata-style listener subscription.
type Listen struct {
	Names    map[string]bool     // empty: all
	Patterns []watchglob.Pattern // the files whose events count
}

type sub struct {
	id     string
	sink   Sink
	watch  *Watch
	listen *Listen
	// lost is the range this subscriber did not get because it was slow,
	// to be reported when it has room again.
	lostFrom, lostTo uint64
}

// Hub turns file changes into events, keeps them in the log, and hands
// them to the subscriptions they match.
type Hub struct {
	// Settle is how long a file must go without writes before one MODIFY
	// is emitted for them, and how long a removal waits for the creation
	// that makes it half of a move.
	Settle time.Duration

	log *Log

	// Linger is how long the patterns of a stream that ended stay watched,
	// so that its client can reconnect and resume without a gap.
	Linger time.Duration
	// Stats, if set, counts what the hub does.
	Stats Stats

	mu        sync.Mutex
	subs      map[Sink]map[string]*sub
	modified  map[string]*time.Timer
	removed   map[string]*removal
	created   map[string]time.Time // recent creations, to drop the second sighting
	lingering []lingered
	// unwatched is one past the last sequence number logged when changes
	// last went unlogged (a watched tree dropped, a folder that could not be
	// watched, an overflow): a resume from before it, that is from any
	// cursor at or before that moment, may have missed them.
	unwatched uint64
	// unwatchedWhy is the reason given to such a resume.
	unwatchedWhy string
}

// Stats are counters for metrics.
type Stats interface {
	Emitted(k Kind)
	Dropped() // an event a slow subscriber did not take
	Subscribers(n int)
}

type lingered struct {
	patterns []watchglob.Pattern
	until    time.Time
}

type removal struct {
	timer *time.Timer
	dir   bool
}

// NewHub returns a hub whose log holds size events.
func NewHub(size int, settle time.Duration) *Hub {
	return &Hub{
		Settle:   settle,
		log:      NewLog(size),
		subs:     make(map[Sink]map[string]*sub),
		modified: make(map[string]*time.Timer),
		removed:  make(map[string]*removal),
		created:  make(map[string]time.Time),
		Linger:   5 * time.Minute,
	}
}

// Log is the hub's event log.
func (h *Hub) Log() *Log { return h.log }

// Subscribe adds (or replaces) subscription id of sink and replays what
// came after the cursor (run, seq); an empty run starts from now. It
// returns the cursor the subscription starts at.
func (h *Hub) Subscribe(sink Sink, id string, w *Watch, l *Listen, run string, seq uint64) (string, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[sink]
	if m == nil {
		m = make(map[string]*sub)
		h.subs[sink] = m
	}
	s := &sub{id: id, sink: sink, watch: w, listen: l}
	m[id] = s
	h.count()
	evs, gap := h.log.Since(run, seq)
	if gap == nil && run == h.log.Run() && seq < h.unwatched {
		// Events held after the cursor are complete, but a tree stopped
		// being watched in between: what changed there was never logged.
		h.tell(s, Missed{Reason: h.unwatchedWhy})
	}
	if gap != nil {
		reason := pb.MissedCompacted
		if gap.Restarted {
			reason = pb.MissedRestart
		}
		h.tell(s, Missed{Restarted: gap.Restarted, From: gap.From, To: gap.To, Reason: reason})
	}
	for _, ev := range evs {
		h.offer(s, ev)
	}
	return h.log.Run(), h.log.Last()
}

// Unsubscribe removes subscription id of sink.
func (h *Hub) Unsubscribe(sink Sink, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[sink], id)
	h.count()
}

// Drop removes every subscription of sink (its stream ended); their
// patterns stay in Patterns for Linger.
func (h *Hub) Drop(sink Sink) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ps []watchglob.Pattern
	for _, s := range h.subs[sink] {
		ps = append(ps, s.patterns()...)
	}
	delete(h.subs, sink)
	h.count()
	if len(ps) > 0 {
		h.lingering = append(h.lingering, lingered{patterns: ps, until: time.Now().Add(h.Linger)})
	}
}

// Patterns returns every pattern of every subscription, and of those that
// ended less than Linger ago, for the watcher.
func (h *Hub) Patterns() []watchglob.Pattern {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ps []watchglob.Pattern
	for _, m := range h.subs {
		for _, s := range m {
			ps = append(ps, s.patterns()...)
		}
	}
	now, kept := time.Now(), h.lingering[:0]
	for _, l := range h.lingering {
		if now.Before(l.until) {
			kept = append(kept, l)
			ps = append(ps, l.patterns...)
		}
	}
	h.lingering = kept
	return ps
}

func (s *sub) patterns() []watchglob.Pattern {
	if s.watch != nil {
		return s.watch.Patterns
	}
	return s.listen.Patterns
}

// Created reports a file or folder that appeared; from is its old path if
// it was moved from within the watched trees.
func (h *Hub) Created(rel, from string, dir bool) {
	if from != "" {
		h.mu.Lock()
		r := h.removed[from]
		if r != nil {
			r.timer.Stop()
			delete(h.removed, from)
		}
		h.mu.Unlock()
		h.emit(Event{Kind: Move, Path: rel, From: from, Dir: dir})
		return
	}
	// A file made in a folder that just appeared can be seen twice: by the
	// folder's new watch and by the scan that follows it. Once is enough.
	h.mu.Lock()
	now := time.Now()
	if t, ok := h.created[rel]; ok && now.Sub(t) < h.Settle+time.Second {
		h.mu.Unlock()
		return
	}
	h.created[rel] = now
	if len(h.created) > 4096 {
		for p, t := range h.created {
			if now.Sub(t) > h.Settle+time.Second {
				delete(h.created, p)
			}
		}
	}
	h.mu.Unlock()
	h.emit(Event{Kind: Create, Path: rel, Dir: dir})
	if path.Base(rel) == "syft.pub.yaml" && !dir {
		h.emit(Event{Kind: Share, Path: rel})
	}
}

// Modified reports a write; a burst of them becomes one MODIFY after Settle.
func (h *Hub) Modified(rel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.modified[rel]; t != nil {
		t.Reset(h.Settle)
		return
	}
	h.modified[rel] = time.AfterFunc(h.Settle, func() {
		h.mu.Lock()
		delete(h.modified, rel)
		h.mu.Unlock()
		h.emit(Event{Kind: Modify, Path: rel})
		if path.Base(rel) == "syft.pub.yaml" {
			h.emit(Event{Kind: Share, Path: rel})
		}
	})
}

// Deleted reports a file or folder gone (or moved away). It waits Settle
// for the creation that would make it a move.
func (h *Hub) Deleted(rel string, dir bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.created, rel)
	if t := h.modified[rel]; t != nil {
		t.Stop()
		delete(h.modified, rel)
	}
	if h.removed[rel] != nil {
		return
	}
	h.removed[rel] = &removal{dir: dir, timer: time.AfterFunc(h.Settle, func() {
		h.mu.Lock()
		r := h.removed[rel]
		delete(h.removed, rel)
		h.mu.Unlock()
		if r != nil {
			h.emit(Event{Kind: Delete, Path: rel, Dir: dir})
		}
	})}
}

// NoteUnwatched records that a watched tree was just dropped.
func (h *Hub) NoteUnwatched() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unwatched, h.unwatchedWhy = h.log.Last()+1, pb.MissedUnwatched
}

// Publish sends a custom event to the listeners of its name.
func (h *Hub) Publish(name, data string) Event {
	return h.emit(Event{Kind: Custom, Name: name, Data: data})
}

// Lost tells every subscriber that file events were lost for reason (an
// event queue overflow, a folder that cannot be watched), and marks the
// log so that a client resuming from before now is told too.
func (h *Hub) Lost(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A subscriber away now (its stream cut, say) resumes from a cursor
	// before this, and is told then: the log has no gap to show it.
	h.unwatched, h.unwatchedWhy = h.log.Last()+1, reason
	for _, m := range h.subs {
		for _, s := range m {
			h.tell(s, Missed{Reason: reason})
		}
	}
}

// Stop ends pending timers.
func (h *Hub) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, t := range h.modified {
		t.Stop()
		delete(h.modified, p)
	}
	for p, r := range h.removed {
		r.timer.Stop()
		delete(h.removed, p)
	}
}

func (h *Hub) emit(ev Event) Event {
	ev.Time = time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	ev = h.log.Append(ev)
	if h.Stats != nil {
		h.Stats.Emitted(ev.Kind)
	}
	for _, m := range h.subs {
		for _, s := range m {
			h.offer(s, ev)
		}
	}
	return ev
}

// offer hands ev to s if it matches; a subscriber too slow to take it
// learns later exactly which events it lost.
func (h *Hub) offer(s *sub, ev Event) {
	if !s.matches(ev) {
		return
	}
	if s.lostFrom != 0 {
		if !s.sink.TryMissed(s.id, Missed{From: s.lostFrom, To: s.lostTo, Reason: pb.MissedSlow}) {
			s.lostTo = ev.Seq
			if h.Stats != nil {
				h.Stats.Dropped()
			}
			return
		}
		s.lostFrom, s.lostTo = 0, 0
	}
	if !s.sink.TryEvent(s.id, ev) {
		s.lostFrom, s.lostTo = ev.Seq, ev.Seq
		if h.Stats != nil {
			h.Stats.Dropped()
		}
	}
}

// count reports the number of subscriptions; callers hold h.mu.
func (h *Hub) count() {
	if h.Stats == nil {
		return
	}
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	h.Stats.Subscribers(n)
}

func (h *Hub) tell(s *sub, m Missed) {
	if !s.sink.TryMissed(s.id, m) && s.lostFrom == 0 {
		// Not even room for the notice: the next event that finds room
		// says so, with the range.
		s.lostFrom, s.lostTo = 1, h.log.Last()
	}
}

func (s *sub) matches(ev Event) bool {
	if w := s.watch; w != nil {
		if ev.Kind == Custom || ev.Kind == Share || !w.Kinds[ev.Kind] || (ev.Dir && !w.Dirs) {
			return false
		}
		return anyMatch(w.Patterns, ev.Path)
	}
	l := s.listen
	name := string(ev.Kind)
	if ev.Kind == Custom {
		name = ev.Name
	}
	if len(l.Names) > 0 && !l.Names[name] {
		return false
	}
	return ev.Kind == Custom || (!ev.Dir && anyMatch(l.Patterns, ev.Path))
}

func anyMatch(ps []watchglob.Pattern, rel string) bool {
	for _, p := range ps {
		if p.Match(rel) {
			return true
		}
	}
	return false
}

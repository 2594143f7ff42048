package events

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Kind is what happened, in the AltaStata listener's names.
type Kind string

// The kinds of file and listener events.
const (
	Create Kind = "CREATE"
	Modify Kind = "MODIFY"
	Delete Kind = "DELETE"
	Move   Kind = "MOVE"
	// Share: a syft.pub.yaml was created or changed, so access to the files
	// under it changed.
	Share Kind = "SHARE"
	// Custom events carry a name and data a handler published.
	Custom Kind = "CUSTOM"
)

// Event is one entry of the log.
type Event struct {
	Seq  uint64
	Kind Kind
	Path string // relative to the datasites folder; the destination of a move
	From string // the source of a move
	Dir  bool
	Name string // a custom event's name
	Data string // a custom event's data
	Time time.Time
}

// Gap says a client asked for events the log no longer holds. As etcd
// reports a compacted revision, the client learns exactly what it missed
// and can rescan instead of trusting an incomplete stream.
type Gap struct {
	// Restarted: the client's run is not this one; everything since its
	// last event is unknown (From and To are zero).
	Restarted bool
	// From and To bound the sequence numbers that are gone (inclusive).
	From, To uint64
}

// Log keeps the last events of this sidecar run. Sequence numbers start at
// 1 and grow by one; the run id changes with every start, so a client can
// tell a restart from a gap.
type Log struct {
	run string

	mu    sync.Mutex
	ring  []Event
	start int    // index in ring of the oldest event
	n     int    // events held
	next  uint64 // the next sequence number
}

// NewLog returns a log holding the last size events.
func NewLog(size int) *Log {
	if size < 1 {
		size = 1
	}
	var b [8]byte
	rand.Read(b[:])
	return &Log{run: hex.EncodeToString(b[:]), ring: make([]Event, size), next: 1}
}

// Run is this run's id.
func (l *Log) Run() string { return l.run }

// Append records ev with the next sequence number and returns it.
func (l *Log) Append(ev Event) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Seq = l.next
	l.next++
	if l.n < len(l.ring) {
		l.ring[(l.start+l.n)%len(l.ring)] = ev
		l.n++
	} else {
		l.ring[l.start] = ev
		l.start = (l.start + 1) % len(l.ring)
	}
	return ev
}

// Last is the newest sequence number, 0 before the first event.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

// Since returns the events after (run, seq), in order, and the gap before
// them if some are gone. A client that has seen nothing passes this run's
// id and 0, or an empty run to start from now.
func (l *Log) Since(run string, seq uint64) ([]Event, *Gap) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := l.next - 1
	switch {
	case run == "":
		return nil, nil
	case run != l.run:
		return l.after(0), &Gap{Restarted: true}
	case seq >= last:
		return nil, nil
	}
	oldest := last - uint64(l.n) + 1 // the oldest held
	var gap *Gap
	if seq+1 < oldest {
		gap = &Gap{From: seq + 1, To: oldest - 1}
		seq = oldest - 1
	}
	return l.after(seq), gap
}

// after copies the held events with Seq > seq.
func (l *Log) after(seq uint64) []Event {
	var out []Event
	for i := 0; i < l.n; i++ {
		ev := l.ring[(l.start+i)%len(l.ring)]
		if ev.Seq > seq {
			out = append(out, ev)
		}
	}
	return out
}

package sidecar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/rpcpath"
	"github.com/openmined/syft-sidecar/watchglob"
)

// DefaultEventQueue is how many events wait for one subscription's callback.
// Past it the client drops events and tells the app with a MissedEvents
// (Reason "slow") instead of holding up the stream, which also carries the
// requests of every handler of this client.
const DefaultEventQueue = 1024

// ErrNotConnected is returned by Publish when no stream to the sidecar is
// open: before Run, between reconnects, and after Run returned.
var ErrNotConnected = errors.New("not connected to sidecar")

// FileEventKind is what happened to a file or folder.
type FileEventKind int

// The kinds of file events. Their values are the protocol's, so a kind
// converts to and from pb.FileEventKind as is.
const (
	Created  = FileEventKind(pb.FileEventKind_FILE_EVENT_KIND_CREATED)
	Modified = FileEventKind(pb.FileEventKind_FILE_EVENT_KIND_MODIFIED)
	Moved    = FileEventKind(pb.FileEventKind_FILE_EVENT_KIND_MOVED)
	Deleted  = FileEventKind(pb.FileEventKind_FILE_EVENT_KIND_DELETED)
)

// String returns "created", "modified", "moved" or "deleted".
func (k FileEventKind) String() string {
	return strings.ToLower(strings.TrimPrefix(pb.FileEventKind(k).String(), "FILE_EVENT_KIND_"))
}

func (k FileEventKind) valid() bool { return Created <= k && k <= Deleted }

// Cursor is a position in the sidecar's event log: a run (a new id at every
// sidecar start) and a sequence number within it.
type Cursor struct {
	Run string
	Seq uint64
}

// after reports whether c comes after last. A cursor of another run does:
// the sidecar restarted, and said so with a MissedEvents.
func (c Cursor) after(last Cursor) bool {
	return last.Run == "" || c.Run != last.Run || c.Seq > last.Seq
}

func (c Cursor) proto() *pb.Cursor {
	if c.Run == "" {
		return nil // from now on
	}
	return &pb.Cursor{Run: c.Run, Seq: c.Seq}
}

func cursorOf(m *pb.Cursor) Cursor { return Cursor{Run: m.GetRun(), Seq: m.GetSeq()} }

// FileEvent is one change that matched a Watch.
type FileEvent struct {
	Kind FileEventKind
	// Path is relative to the datasites folder, with '/' between folders
	// on every OS; for a move, the destination.
	Path string
	// From is the source of a move, relative to the datasites folder as
	// Path is; empty for other kinds.
	From   string
	IsDir  bool
	Time   time.Time // when the sidecar saw it; zero if it did not say
	Cursor Cursor
}

func newFileEvent(m *pb.FileEvent) FileEvent {
	ev := FileEvent{
		Kind: FileEventKind(m.GetKind()), Path: m.GetPath(), From: m.GetFrom(), IsDir: m.GetIsDir(),
		Cursor: cursorOf(m.GetCursor()),
	}
	if m.GetTime() != nil {
		ev.Time = m.GetTime().AsTime()
	}
	return ev
}

// MissedEvents says a subscription lost events, as etcd reports a compacted
// revision: the app should rescan what it watches. The events that follow
// it are complete again.
type MissedEvents struct {
	// ID is the subscription's: "w1", "w2", ... for watches in the order of
	// Watch, and Listener.ID for listeners.
	ID string
	// Restarted: the sidecar restarted, so everything since the last event
	// is unknown and the sequence numbers are zero.
	Restarted bool
	// FromSeq and ToSeq are the lost sequence numbers, inclusive, or zero
	// when not known.
	FromSeq, ToSeq uint64
	// Reason says why, as the protocol's Missed* constants name it:
	//
	//	"restart"    the sidecar restarted since the last event taken
	//	"compacted"  the events are older than the sidecar's buffer
	//	"slow"       the sidecar, or this client's queue, could not hand the
	//	             events over as fast as they came
	//	"overflow"   the kernel's event queue overflowed
	//	"unwatched"  a folder could not be watched, or a watched tree was
	//	             dropped while this client was away
	//
	// A reason not listed here (from a newer sidecar) is a loss all the same.
	Reason string
}

func newMissedEvents(m *pb.MissedEvents) MissedEvents {
	return MissedEvents{ID: m.GetId(), Restarted: m.GetRestarted(), FromSeq: m.GetFromSeq(), ToSeq: m.GetToSeq(), Reason: m.GetReason()}
}

// WithOnMissed calls f when a subscription lost events, on that
// subscription's goroutine, between the events before and after the loss.
// Without it the client logs a warning.
func WithOnMissed(f func(MissedEvents)) Option {
	return func(c *Client) error {
		c.onMissed = f
		return nil
	}
}

// WatchOption configures one watch in Watch.
type WatchOption func(*watchOptions) error

// watchOptions are what a watch's options set.
type watchOptions struct {
	kinds []FileEventKind // empty: the sidecar's default
	dirs  bool
	app   string
}

// WithKinds sets which kinds of change the watch reports. The default is
// Created, Modified and Moved, as syft-event's watch().
func WithKinds(kinds ...FileEventKind) WatchOption {
	return func(o *watchOptions) error {
		if len(kinds) == 0 {
			return errors.New("no kinds")
		}
		o.kinds = o.kinds[:0]
		for _, k := range kinds {
			if !k.valid() {
				return fmt.Errorf("unknown kind %d", k)
			}
			o.kinds = append(o.kinds, k)
		}
		return nil
	}
}

// WithDirs reports changes to folders too; without it only files.
func WithDirs() WatchOption {
	return func(o *watchOptions) error {
		o.dirs = true
		return nil
	}
}

// WithWatchApp names the app that {app_data} in the globs stands for. A
// client may serve several apps, so it is never guessed.
func WithWatchApp(app string) WatchOption {
	return func(o *watchOptions) error {
		if err := rpcpath.ValidateAppName(app); err != nil {
			return err
		}
		o.app = app
		return nil
	}
}

// Watch calls f for each change to a file that matches one of globs, as
// syft-event's watch(). Globs are doublestar patterns relative to the
// datasites folder, such as "{datasite}/**/*.json"; {datasite} and {email}
// stand for the owner's datasite, {app_data} for the folder of the app
// WithWatchApp names. A move matches on its destination.
//
// Call Watch before Run. The n-th watch has the id "w<n>", which
// MissedEvents carries.
//
// f runs on a goroutine of its own, one event at a time in the order of the
// events, with a context that ends when Run stops. Across a reconnect, the
// client asks the sidecar for the events after the last one it took, so
// none is lost or repeated while the sidecar still holds them; when it does
// not, or when f is so slow that DefaultEventQueue events wait, the events
// in between are dropped and WithOnMissed's function is called instead.
func (c *Client) Watch(globs []string, f func(ctx context.Context, ev FileEvent), opts ...WatchOption) error {
	if f == nil {
		return errors.New("watch: nil callback")
	}
	if len(globs) == 0 {
		return errors.New("watch: no globs")
	}
	var o watchOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return fmt.Errorf("watch %q: %w", globs, err)
		}
	}
	w := &pb.Watch{Globs: append([]string(nil), globs...), IncludeDirs: o.dirs, App: o.app}
	for _, k := range o.kinds {
		w.Kinds = append(w.Kinds, pb.FileEventKind(k))
	}
	for _, g := range globs {
		// The sidecar's own rules, so that a typo fails here instead of as
		// an InvalidArgument at Run. The values only need to be there.
		v := watchglob.Vars{Email: "owner@example.com", App: w.App}
		if _, err := watchglob.Compile(g, v); err != nil {
			if strings.Contains(g, "{app_data}") && w.App == "" {
				return fmt.Errorf("watch %q: {app_data} needs WithWatchApp", g)
			}
			return fmt.Errorf("watch: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stateErr(); err != nil {
		return fmt.Errorf("watch %q: %w", globs, err)
	}
	c.nwatch++
	w.Id = fmt.Sprint("w", c.nwatch)
	c.addSub(&subscription{id: w.Id, watch: w, onFile: f})
	return nil
}

// stateErr says why nothing can be added before Run any more. c.mu is held.
func (c *Client) stateErr() error {
	switch c.state {
	case stateStarted:
		return ErrStarted
	case stateClosed:
		return ErrClosed
	}
	return nil
}

// Listener is a listener added with AddListener.
type Listener struct{ id string }

// ID is the listener's subscription id, which MissedEvents carries.
func (l Listener) ID() string { return l.id }

// AddListener calls f(name, data) for each event whose name is one of names
// (all events when names is empty), as AltaStata's add_event_listener:
// CREATE, MODIFY, DELETE, MOVE and SHARE (a syft.pub.yaml was created or
// changed) for the files of the owner's datasite, with data the
// datasites-relative path ("from -> to" for MOVE), and the custom events
// handlers Publish, with their data.
//
// Listeners may be added before Run or while it runs. f runs as a Watch
// callback does (in order, on a goroutine of its own, resumed across
// reconnects); if it panics, the panic is logged with its stack and the next
// event still arrives.
func (c *Client) AddListener(f func(name, data string), names ...string) (Listener, error) {
	if f == nil {
		return Listener{}, errors.New("add listener: nil callback")
	}
	for _, n := range names {
		if n == "" {
			return Listener{}, errors.New("add listener: empty event name")
		}
	}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return Listener{}, fmt.Errorf("add listener: %w", ErrClosed)
	}
	c.nlisten++
	id := fmt.Sprint("l", c.nlisten)
	sub := &subscription{id: id, listen: &pb.Listen{Id: id, Names: append([]string(nil), names...)}, onListen: f}
	c.addSub(sub)
	s := c.cur
	c.mu.Unlock()
	// A stream that is live now has not sent this listener (see serve);
	// if it ends before the Listen goes out, the next one sends it.
	if s != nil {
		if err := s.post(nil, sub.request()); err != nil {
			c.log.Debug("listen not sent: stream ended", "listener", id)
		}
	}
	return Listener{id: id}, nil
}

// RemoveListener stops l: its callback is not called again once a running
// call returns. Removing a listener twice, or one of another client, does
// nothing.
func (c *Client) RemoveListener(l Listener) {
	c.mu.Lock()
	sub := c.subByID[l.id]
	if sub == nil || sub.listen == nil {
		c.mu.Unlock()
		return
	}
	c.removeSub(sub)
	s := c.cur
	c.mu.Unlock()
	if s != nil {
		m := &pb.ConnectRequest{Msg: &pb.ConnectRequest_Unlisten{Unlisten: &pb.Unlisten{Id: l.id}}}
		if err := s.post(nil, m); err != nil {
			c.log.Debug("unlisten not sent: stream ended", "listener", l.id)
		}
	}
}

// RemoveAllListeners removes every listener; watches stay.
func (c *Client) RemoveAllListeners() {
	c.mu.Lock()
	var ls []Listener
	for _, sub := range c.subs {
		if sub.listen != nil {
			ls = append(ls, Listener{id: sub.id})
		}
	}
	c.mu.Unlock()
	for _, l := range ls {
		c.RemoveListener(l)
	}
}

// Publish sends the custom event (name, data) to every listener of the
// sidecar that subscribed to name, in this process or another. It needs a
// live stream: before Run connected, or while it reconnects, it returns
// ErrNotConnected. Publish returns once the event is queued on the stream;
// if the stream breaks before it goes out, the event is lost (at most once).
func (c *Client) Publish(ctx context.Context, name, data string) error {
	if name == "" {
		return errors.New("publish: empty event name")
	}
	c.mu.Lock()
	s := c.cur
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("publish %s: %w", name, ErrNotConnected)
	}
	m := &pb.ConnectRequest{Msg: &pb.ConnectRequest_Publish{Publish: &pb.Publish{Name: name, Data: data}}}
	if err := s.post(ctx.Done(), m); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("publish %s: %w", name, ErrNotConnected)
	}
	return nil
}

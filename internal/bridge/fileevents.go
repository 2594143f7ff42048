package bridge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/events"
	"github.com/openmined/syft-sidecar/internal/watcher"
	"github.com/openmined/syft-sidecar/rpcpath"
	"github.com/openmined/syft-sidecar/watchglob"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Subscription ids in the hub are the handler's ids with a prefix, so one
// stream's watch "a" and listener "a" stay apart.
const (
	watchPrefix  = "w:"
	listenPrefix = "l:"
)

// openEvents starts the hub and the watcher of the datasites trees that
// subscriptions ask for. It is a watcher of its own: the request path's
// watcher sees only the apps' rpc folders, and neither slows the other.
func (b *Bridge) openEvents() error {
	b.hub = events.NewHub(b.cfg.EventBuffer, b.cfg.EventSettle)
	b.hub.Stats = b.metrics
	w := watcher.New()
	w.Logger = b.logger.With("component", "event-watcher")
	w.Stats = eventStats{b}
	w.Dirs = true
	w.ReconcileInterval = 0
	// The SyftBox client's temporary, conflict and rejected files are its
	// own business, not the app's.
	w.Ignore = rpcpath.Ignored
	if err := w.Open(); err != nil {
		return err
	}
	b.evWatcher = w
	b.evRoots = make(map[string]bool)
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.feedHub(b.ctx) }()
	return nil
}

// eventStats reports the event watcher's overflows to every subscriber, as
// well as to the metrics.
type eventStats struct{ b *Bridge }

func (s eventStats) Rescan(reason string) { s.b.metrics.Rescan(reason) }
func (s eventStats) Overflow() {
	s.b.metrics.Overflow()
	s.b.hub.Lost(pb.MissedOverflow)
}

// Unwatched tells every subscriber at each change: when a folder cannot be
// watched, events in it are lost from then on; when it is watched again,
// the gap has ended.
func (s eventStats) Unwatched(n int) {
	s.b.metrics.UnwatchedFolders.WithLabelValues("events").Set(float64(n))
	s.b.hub.Lost(pb.MissedUnwatched)
}

// feedHub turns the event watcher's reports into hub calls.
func (b *Bridge) feedHub(ctx context.Context) {
	prefix := b.cfg.DatasitesDir + string(filepath.Separator)
	rel := func(p string) string { return filepath.ToSlash(strings.TrimPrefix(p, prefix)) }
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-b.evWatcher.Events():
			switch {
			case ev.Op&watcher.Create != 0:
				from := ""
				if ev.From != "" && strings.HasPrefix(ev.From, prefix) {
					from = rel(ev.From)
				}
				b.hub.Created(rel(ev.Path), from, ev.Dir)
			case ev.Op&watcher.Modify != 0:
				b.hub.Modified(rel(ev.Path))
			case ev.Op&watcher.Delete != 0:
				b.hub.Deleted(rel(ev.Path), ev.Dir)
			}
		}
	}
}

// syncRoots watches the smallest trees that cover every subscription's
// patterns and drops the watches no subscription needs any more. The
// watches are in place when it returns.
func (b *Bridge) syncRoots(ctx context.Context, extra ...watchglob.Pattern) ([]string, error) {
	b.evMu.Lock()
	defer b.evMu.Unlock()
	roots := watchglob.Roots(append(b.hub.Patterns(), extra...))
	want := make(map[string]bool, len(roots))
	for _, r := range roots {
		want[r] = true
		if b.evRoots[r] {
			continue
		}
		dir := filepath.Join(b.cfg.DatasitesDir, filepath.FromSlash(r))
		if err := mkdirAll(dir); err != nil {
			return nil, fmt.Errorf("create watched folder: %w", err)
		}
		if err := b.evWatcher.Add(ctx, dir); err != nil {
			return nil, fmt.Errorf("watch %s: %w", r, err)
		}
		if !b.evWatcher.Watching(dir) {
			// Refused rather than taken with a gap from its first moment:
			// the client tries again, and once the watch is in place it
			// starts (or resumes from its cursor) with nothing missing.
			b.evWatcher.RemoveRoot(dir)
			return nil, fmt.Errorf("watch %s: %w", r, errUnwatchable)
		}
		b.evRoots[r] = true
	}
	for r := range b.evRoots {
		if !want[r] {
			b.evWatcher.RemoveRoot(filepath.Join(b.cfg.DatasitesDir, filepath.FromSlash(r)))
			delete(b.evRoots, r)
			// What changes there from now on is never logged: a client
			// resuming from before this must hear it.
			b.hub.NoteUnwatched()
		}
	}
	return roots, nil
}

var kindsFromPB = map[pb.FileEventKind]events.Kind{
	pb.FileEventKind_FILE_EVENT_KIND_CREATED:  events.Create,
	pb.FileEventKind_FILE_EVENT_KIND_MODIFIED: events.Modify,
	pb.FileEventKind_FILE_EVENT_KIND_MOVED:    events.Move,
	pb.FileEventKind_FILE_EVENT_KIND_DELETED:  events.Delete,
}

var kindsToPB = map[events.Kind]pb.FileEventKind{
	events.Create: pb.FileEventKind_FILE_EVENT_KIND_CREATED,
	events.Modify: pb.FileEventKind_FILE_EVENT_KIND_MODIFIED,
	events.Move:   pb.FileEventKind_FILE_EVENT_KIND_MOVED,
	events.Delete: pb.FileEventKind_FILE_EVENT_KIND_DELETED,
}

func (b *Bridge) compile(globs []string, app string) ([]watchglob.Pattern, error) {
	var ps []watchglob.Pattern
	for _, g := range globs {
		p, err := watchglob.Compile(g, watchglob.Vars{Email: b.cfg.Owner, App: app})
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// watch serves a Watch message.
func (svc *Service) watch(ctx context.Context, s *stream, w *pb.Watch) error {
	b := svc.b
	if w.GetId() == "" || len(w.GetGlobs()) == 0 {
		return status.Error(codes.InvalidArgument, "watch: an id and at least one glob are needed")
	}
	ps, err := b.compile(w.GetGlobs(), w.GetApp())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "watch %s: %v", w.GetId(), err)
	}
	sub := &events.Watch{Patterns: ps, Kinds: map[events.Kind]bool{}, Dirs: w.GetIncludeDirs()}
	for _, k := range w.GetKinds() {
		ek, ok := kindsFromPB[k]
		if !ok {
			return status.Errorf(codes.InvalidArgument, "watch %s: unknown kind %v", w.GetId(), k)
		}
		sub.Kinds[ek] = true
	}
	if len(sub.Kinds) == 0 {
		// syft-event's default: created, modified, moved.
		sub.Kinds = map[events.Kind]bool{events.Create: true, events.Modify: true, events.Move: true}
	}
	return svc.subscribe(ctx, s, watchPrefix+w.GetId(), sub, nil, w.GetAfter())
}

// listen serves a Listen message.
func (svc *Service) listen(ctx context.Context, s *stream, l *pb.Listen) error {
	b := svc.b
	if l.GetId() == "" {
		return status.Error(codes.InvalidArgument, "listen: an id is needed")
	}
	globs := l.GetGlobs()
	if len(globs) == 0 {
		globs = []string{"{datasite}/**"}
	}
	ps, err := b.compile(globs, "")
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "listen %s: %v", l.GetId(), err)
	}
	sub := &events.Listen{Patterns: ps}
	if len(l.GetNames()) > 0 {
		sub.Names = map[string]bool{}
		for _, n := range l.GetNames() {
			sub.Names[n] = true
		}
	}
	return svc.subscribe(ctx, s, listenPrefix+l.GetId(), nil, sub, l.GetAfter())
}

func (svc *Service) subscribe(ctx context.Context, s *stream, id string, w *events.Watch, l *events.Listen, after *pb.Cursor) error {
	b := svc.b
	// The trees are watched before the subscription goes live, and going
	// live replays what came after the cursor under one hub lock: no event
	// can slip between the replay and the live ones, or come twice.
	var ps []watchglob.Pattern
	if w != nil {
		ps = w.Patterns
	} else {
		ps = l.Patterns
	}
	roots, err := b.syncRoots(ctx, ps...)
	if errors.Is(err, errUnwatchable) {
		return status.Errorf(codes.ResourceExhausted, "%s: %v", id[2:], err)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "%s: %v", id[2:], err)
	}
	run, seq := b.hub.Subscribe(s, id, w, l, after.GetRun(), after.GetSeq())
	// The acknowledgement must arrive: wait for room rather than drop it.
	ack := &pb.ConnectResponse{Msg: &pb.ConnectResponse_Subscribed{Subscribed: &pb.Subscribed{
		Id: id[2:], Cursor: &pb.Cursor{Run: run, Seq: seq}, Roots: roots,
	}}}
	select {
	case s.ev <- ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unsubscribe serves Unwatch and Unlisten.
func (svc *Service) unsubscribe(ctx context.Context, s *stream, id string) {
	svc.b.hub.Unsubscribe(s, id)
	if _, err := svc.b.syncRoots(ctx); err != nil {
		svc.b.logger.Warn("drop watches", "err", err)
	}
}

// Package watcher watches directory trees recursively with fsnotify and
// reports the files in them: created or moved in, written, removed, and found
// by a scan. Linux has no recursive watch, so every folder gets a watch of its
// own, added before the folder is read, so that a file created in between is
// reported by one or the other (possibly both: consumers de-duplicate).
package watcher

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Op says what happened to a path.
type Op uint8

const (
	// Create: the file appeared, by creation or by a rename into the tree.
	Create Op = 1 << iota
	// Modify: the file's content changed.
	Modify
	// Delete: the file is gone, by removal or by a rename out of its folder.
	Delete
	// Found: a scan saw the file; it may have been there for a while.
	Found
)

func (op Op) String() string {
	var s []string
	for _, o := range []struct {
		op   Op
		name string
	}{{Create, "create"}, {Modify, "modify"}, {Delete, "delete"}, {Found, "found"}} {
		if op&o.op != 0 {
			s = append(s, o.name)
		}
	}
	return strings.Join(s, "|")
}

// Event is one file's change. Folders are reported only when Dirs is set.
type Event struct {
	Path string
	Op   Op
	// From is where a file or folder created by a rename came from, when
	// that was inside the watched trees too.
	From string
	Dir  bool
	// Listing numbers the folder listing that reported the file (see
	// Watcher.Listings); 0 for an event from inotify.
	Listing uint64
}

// Partners pairs file names by their ending: the partner of a file whose
// name ends in Of is the same name ending in Is (a request's response).
type Partners struct{ Of, Is string }

// Default settings, copied into a Watcher by New.
const (
	DefaultBuffer            = 4096
	DefaultReconcileInterval = 5 * time.Minute
	// DefaultPollInterval is how often a folder that cannot be watched is
	// listed, and its watch tried again.
	DefaultPollInterval = time.Second
)

// Stats are counters for metrics.
type Stats interface {
	Rescan(reason string)
	Overflow()
	// Unwatched reports the number of folders that cannot be watched now,
	// each time it changes: what happens in them makes no event until
	// their watch is in place, and they are polled meanwhile.
	Unwatched(n int)
}

// unwatchedWarnEvery rate-limits the warning for folders that cannot be
// watched: when the watch limit is reached, thousands may follow at once.
const unwatchedWarnEvery = 10 * time.Second

// Watcher reports the files under its roots on Events.
type Watcher struct {
	// ReconcileInterval is how often every root is rescanned as a safety net
	// against lost events. Zero switches it off.
	ReconcileInterval time.Duration
	// Ignore, if set, names files and folders (by base name) that are
	// neither reported nor entered. It is asked before anything else, so
	// the files a consumer writes itself cost no system call here.
	Ignore func(name string) bool
	// Removals, if set, names files that Ignore hides whose removal (or
	// rename away) is reported all the same; scans never report them.
	Removals func(name string) bool
	// File, if set, names what can only be a file, so that its creation is
	// reported without the Lstat that tells a new folder from a file.
	File func(name string) bool
	// PollInterval is how often folders that cannot be watched are listed
	// (their files reported as Found) and their watches tried again.
	PollInterval time.Duration
	// Dirs reports folders' creation and removal too.
	Dirs bool
	// MovedFrom fills in Event.From for what a rename created. On by
	// default (New sets it); a consumer that never reads From turns it off,
	// because fsnotify shows the old path only in Event.String, which
	// formats every create event to find it.
	MovedFrom bool
	// Partners, if set, has scans leave out each file whose partner is
	// listed beside it, hidden by Ignore or not (a request whose response
	// is there): a file a scan reports had no partner when its folder was
	// listed, which a consumer would otherwise look up with a system call
	// per file, and a folder of files long partnered costs a scan no
	// events.
	Partners Partners
	// Sink, if set, takes the events in place of Events, on the goroutine
	// that found them: the watcher's own for inotify's, the caller of Add
	// or Rescan for a scan's. more says that other events follow at once
	// (the rest of a listing, or inotify events already waiting), so that
	// the sink may queue this one rather than handle it there and then.
	// It returns false once ctx has ended, or to take no more of a scan's
	// files for now: the scan then leaves the rest of that folder's files
	// out (its subfolders are still scanned), and the sink sees that a
	// later scan reports them. Set it before Open.
	Sink     func(ctx context.Context, ev Event, more bool) bool
	listings atomic.Uint64
	Stats    Stats
	Logger   *slog.Logger

	events chan Event
	fsw    *fsnotify.Watcher

	mu    sync.Mutex
	roots map[string]struct{}
	dirs  map[string]struct{} // watched folders
	// unwatched holds the folders whose watch could not be added (the
	// inotify watch limit, most likely), with the reason.
	unwatched map[string]error
	lastWarn  time.Time

	done   chan struct{} // closed by Close; ends scans still running in Add
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Watcher; call Open to start it.
func New() *Watcher {
	return &Watcher{
		ReconcileInterval: DefaultReconcileInterval,
		PollInterval:      DefaultPollInterval,
		MovedFrom:         true,
		Logger:            slog.Default(),
		events:            make(chan Event, DefaultBuffer),
		roots:             make(map[string]struct{}),
		dirs:              make(map[string]struct{}),
		unwatched:         make(map[string]error),
		done:              make(chan struct{}),
	}
}

// Events delivers file events, unless Sink takes them. It is never closed:
// consumers stop on their own context, so a scan racing Close never sends
// on a closed channel.
func (w *Watcher) Events() <-chan Event { return w.events }

// Open starts watching.
func (w *Watcher) Open() error {
	fsw, err := fsnotify.NewBufferedWatcher(DefaultBuffer)
	if err != nil {
		return err
	}
	w.fsw = fsw
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.run(ctx) }()
	return nil
}

// Close stops watching. A scan still running in Add is abandoned.
func (w *Watcher) Close() error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	close(w.done)
	err := w.fsw.Close()
	w.wg.Wait()
	w.cancel = nil
	return err
}

// Add watches root and everything below it, then reports every file already
// there as Found. Adding a root twice, or one below a root, only rescans it.
func (w *Watcher) Add(ctx context.Context, root string) error {
	root = filepath.Clean(root)
	w.mu.Lock()
	w.roots[root] = struct{}{}
	w.mu.Unlock()
	return w.scan(ctx, root, Found)
}

// RemoveRoot stops watching root and everything below it, unless another
// root holds it: its folders' watches are that root's too.
func (w *Watcher) RemoveRoot(root string) {
	root = filepath.Clean(root)
	w.mu.Lock()
	delete(w.roots, root)
	covered := false
	for r := range w.roots {
		if r == root || strings.HasPrefix(root, r+string(filepath.Separator)) {
			covered = true
		}
	}
	w.mu.Unlock()
	if !covered {
		w.forget(root)
	}
}

// Rescan reports every file under every root as Found and re-adds missing
// watches. It is what an event overflow calls for.
func (w *Watcher) Rescan(ctx context.Context) error {
	w.mu.Lock()
	roots := make([]string, 0, len(w.roots))
	for r := range w.roots {
		roots = append(roots, r)
	}
	w.mu.Unlock()
	var errs []error
	for _, r := range roots {
		errs = append(errs, w.scan(ctx, r, Found))
	}
	return errors.Join(errs...)
}

// scan watches dir and its subfolders, each before it is read, and reports
// their files with op: Found for a scan of what was there, Create for a
// folder that just appeared. Symbolic links are never followed: a link to a
// folder is not watched, so nothing outside the tree is seen through it.
func (w *Watcher) scan(ctx context.Context, dir string, op Op) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	if err := w.watch(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // gone again already
		}
		// Listed all the same, and polled until the watch is in place.
		w.noteUnwatched(dir, err)
	}
	err = w.report(ctx, dir, op, func(p string) error {
		if op == Create && w.Dirs && !w.emit(ctx, Event{Path: p, Op: Create, Dir: true}, true) {
			return ctx.Err()
		}
		if err := w.scan(ctx, p, op); err != nil {
			w.Logger.Warn("scan folder", "path", p, "err", err)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Listings is the number of folder listings begun so far. A file's event
// carries its listing's number (Event.Listing), taken before the folder
// was read: what was in the folder when Listings returned n or less is in
// every listing numbered above n.
func (w *Watcher) Listings() uint64 { return w.listings.Load() }

// report reports the regular files in dir with op and hands each folder in
// it to sub, skipping ignored names; it stops at sub's first error or when
// ctx ends or the watcher closes, and leaves out the files after one the
// sink refused.
func (w *Watcher) report(ctx context.Context, dir string, op Op, sub func(p string) error) error {
	listing := w.listings.Add(1)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	files := true
	for _, e := range entries {
		if w.ignored(e.Name()) {
			continue
		}
		switch {
		case e.IsDir():
			if err := sub(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		case e.Type().IsRegular() && files:
			if w.Partners.listed(entries, e.Name()) {
				continue
			}
			if !w.emit(ctx, Event{Path: filepath.Join(dir, e.Name()), Op: op, Listing: listing}, true) {
				if w.closed() || ctx.Err() != nil {
					return ctx.Err()
				}
				files = false
			}
		}
	}
	return nil
}

// closed says whether Close has been called.
func (w *Watcher) closed() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// listed says whether the partner of name is among entries, which
// os.ReadDir sorts by name.
func (ps Partners) listed(entries []fs.DirEntry, name string) bool {
	if ps.Of == "" {
		return false
	}
	stem, ok := strings.CutSuffix(name, ps.Of)
	if !ok {
		return false
	}
	_, found := slices.BinarySearchFunc(entries, stem, func(e fs.DirEntry, stem string) int {
		return compareJoined(e.Name(), stem, ps.Is)
	})
	return found
}

// compareJoined compares s with a+b without joining them.
func compareJoined(s, a, b string) int {
	n := min(len(s), len(a))
	if c := strings.Compare(s[:n], a[:n]); c != 0 {
		return c
	}
	if len(s) < len(a) {
		return -1
	}
	return strings.Compare(s[len(a):], b)
}

func (w *Watcher) watch(dir string) error {
	w.mu.Lock()
	_, ok := w.dirs[dir]
	w.mu.Unlock()
	if ok {
		return nil
	}
	if err := w.fsw.Add(dir); err != nil {
		return describe(err)
	}
	w.mu.Lock()
	w.dirs[dir] = struct{}{}
	_, was := w.unwatched[dir]
	delete(w.unwatched, dir)
	n := len(w.unwatched)
	w.mu.Unlock()
	if was {
		if n == 0 {
			w.Logger.Info("every folder is watched again", "last", dir)
		} else {
			w.Logger.Debug("watching folder now", "path", dir, "unwatched", n)
		}
		if w.Stats != nil {
			w.Stats.Unwatched(n)
		}
	}
	return nil
}

// noteUnwatched records a folder whose watch could not be added.
func (w *Watcher) noteUnwatched(dir string, err error) {
	w.mu.Lock()
	_, known := w.unwatched[dir]
	w.unwatched[dir] = err
	n := len(w.unwatched)
	warn := !known && time.Since(w.lastWarn) >= unwatchedWarnEvery
	if warn {
		w.lastWarn = time.Now()
	}
	w.mu.Unlock()
	if known {
		return
	}
	if w.Stats != nil {
		w.Stats.Unwatched(n)
	}
	args := []any{"path", dir, "err", err, "unwatched", n, "poll", w.PollInterval}
	if errors.Is(err, syscall.ENOSPC) {
		args = append(args, "hint", "the inotify watch limit is reached: raise fs.inotify.max_user_watches (sysctl)")
	}
	if warn {
		w.Logger.Warn("cannot watch folder; listing it every poll until its watch is in place", args...)
	} else {
		w.Logger.Debug("cannot watch folder", args...)
	}
}

// Watching says whether dir itself is watched now.
func (w *Watcher) Watching(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.dirs[filepath.Clean(dir)]
	return ok
}

// Unwatched is the number of folders that cannot be watched now.
func (w *Watcher) Unwatched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.unwatched)
}

// poll tries again to watch each folder that could not be, and lists those
// it still cannot watch, reporting their files as Found and scanning
// folders new in them. A folder whose watch is now in place is scanned once
// more, since files may have come before the watch.
func (w *Watcher) poll(ctx context.Context) {
	w.mu.Lock()
	dirs := make([]string, 0, len(w.unwatched))
	for d := range w.unwatched {
		dirs = append(dirs, d)
	}
	w.mu.Unlock()
	for _, dir := range dirs {
		if ctx.Err() != nil {
			return
		}
		err := w.watch(dir)
		switch {
		case err == nil:
			if err := w.scan(ctx, dir, Found); err != nil && !errors.Is(err, context.Canceled) {
				w.Logger.Warn("scan folder", "path", dir, "err", err)
			}
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			w.forget(dir)
		default:
			w.list(ctx, dir)
		}
	}
}

// list reports the files of a folder that cannot be watched as Found, and
// scans the folders in it that are neither watched nor polled yet: made
// since, they made no event.
func (w *Watcher) list(ctx context.Context, dir string) {
	// An error is a folder gone: the next poll drops it.
	_ = w.report(ctx, dir, Found, func(p string) error {
		w.mu.Lock()
		_, watched := w.dirs[p]
		_, polled := w.unwatched[p]
		w.mu.Unlock()
		if !watched && !polled {
			if err := w.scan(ctx, p, Found); err != nil && !errors.Is(err, context.Canceled) {
				w.Logger.Warn("scan folder", "path", p, "err", err)
			}
		}
		return nil
	})
}

// forget drops the watches of dir and below; it says whether dir was a
// watched folder.
func (w *Watcher) forget(dir string) bool {
	w.mu.Lock()
	prefix := dir + string(filepath.Separator)
	dropped := false
	for d := range w.unwatched {
		if d == dir || strings.HasPrefix(d, prefix) {
			delete(w.unwatched, d)
			dropped = true
		}
	}
	n := len(w.unwatched)
	_, watched := w.dirs[dir]
	if watched {
		for d := range w.dirs {
			if d == dir || strings.HasPrefix(d, prefix) {
				delete(w.dirs, d)
				_ = w.fsw.Remove(d) // the kernel may have dropped it already
			}
		}
	}
	w.mu.Unlock()
	if dropped && w.Stats != nil {
		w.Stats.Unwatched(n)
	}
	return watched
}

// emit reports ev; more says that other events follow at once.
func (w *Watcher) emit(ctx context.Context, ev Event, more bool) bool {
	if w.Sink != nil {
		if w.closed() {
			return false
		}
		return w.Sink(ctx, ev, more)
	}
	select {
	case w.events <- ev:
		return true
	case <-ctx.Done():
		return false
	case <-w.done:
		return false
	}
}

func (w *Watcher) run(ctx context.Context) {
	batch := make([]fsnotify.Event, 0, eventBatch)
	var reconcile <-chan time.Time
	if w.ReconcileInterval > 0 {
		t := time.NewTicker(w.ReconcileInterval)
		defer t.Stop()
		reconcile = t.C
	}
	var poll <-chan time.Time
	if w.PollInterval > 0 {
		t := time.NewTicker(w.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			batch = w.handleWaiting(ctx, append(batch[:0], ev))
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.Logger.Warn("event queue overflowed, rescanning")
				if w.Stats != nil {
					w.Stats.Overflow()
				}
				w.rescan(ctx, "overflow")
				continue
			}
			w.Logger.Warn("watch error", "err", describe(err))
		case <-reconcile:
			w.rescan(ctx, "reconcile")
		case <-poll:
			if w.Unwatched() > 0 {
				w.poll(ctx)
			}
		}
	}
}

func (w *Watcher) rescan(ctx context.Context, reason string) {
	if w.Stats != nil {
		w.Stats.Rescan(reason)
	}
	if err := w.Rescan(ctx); err != nil && !errors.Is(err, context.Canceled) {
		w.Logger.Warn("rescan", "reason", reason, "err", err)
	}
}

func (w *Watcher) ignored(name string) bool { return w.Ignore != nil && w.Ignore(name) }

// eventBatch is how many waiting inotify events the watcher takes at once.
const eventBatch = 64

// handleWaiting handles batch, its first event and those waiting behind
// it, up to eventBatch. The events it drops unseen (ignored names) are
// left out first, so that the last event reported is known to be last
// (more is false for it): a Sink may handle that one itself, where one
// with others behind it is better queued for a worker. It returns batch
// for reuse.
func (w *Watcher) handleWaiting(ctx context.Context, batch []fsnotify.Event) []fsnotify.Event {
take:
	for len(batch) < eventBatch {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				break take
			}
			batch = append(batch, ev)
		default:
			break take
		}
	}
	kept := batch[:0]
	for _, ev := range batch {
		if w.wanted(ev) {
			kept = append(kept, ev)
		}
	}
	for i, ev := range kept {
		w.handle(ctx, ev, i < len(kept)-1)
	}
	return batch
}

// wanted says whether ev may be reported: its name is not ignored, or it
// is a removal that Removals asks for.
func (w *Watcher) wanted(ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	if !w.ignored(name) {
		return true
	}
	removed := ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0
	return removed && w.Removals != nil && w.Removals(name)
}

// handle reports ev, which wanted let through; more says that other
// events follow at once.
func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event, more bool) {
	switch {
	case ev.Has(fsnotify.Create) && w.File != nil && w.File(filepath.Base(ev.Name)):
		w.emit(ctx, Event{Path: ev.Name, Op: Create, From: w.renamedFrom(ev)}, more)
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(ev.Name)
		if err != nil {
			return // gone again already
		}
		if fi.IsDir() {
			if w.Dirs {
				w.emit(ctx, Event{Path: ev.Name, Op: Create, From: w.renamedFrom(ev), Dir: true}, true)
			}
			// A folder created or moved in: watch it, then read it, since
			// files made before the watch existed make no event.
			if err := w.scan(ctx, ev.Name, Create); err != nil {
				w.Logger.Warn("watch new folder", "path", ev.Name, "err", err)
			}
			return
		}
		if fi.Mode().IsRegular() {
			w.emit(ctx, Event{Path: ev.Name, Op: Create, From: w.renamedFrom(ev)}, more)
		}
	case ev.Has(fsnotify.Write):
		w.emit(ctx, Event{Path: ev.Name, Op: Modify}, more)
	case ev.Has(fsnotify.Remove), ev.Has(fsnotify.Rename):
		dir := w.forget(ev.Name)
		if dir && !w.Dirs {
			return
		}
		w.emit(ctx, Event{Path: ev.Name, Op: Delete, Dir: dir}, more)
	}
}

// renamedFrom is the old path of a file that a rename created, which
// fsnotify pairs from the kernel's move cookies but shows only in the
// event's String ("CREATE  \"new\" ← \"old\""); "" unless MovedFrom.
func (w *Watcher) renamedFrom(ev fsnotify.Event) string {
	if !w.MovedFrom {
		return ""
	}
	_, q, ok := strings.Cut(ev.String(), " ← ")
	if !ok {
		return ""
	}
	from, err := strconv.Unquote(q)
	if err != nil {
		return ""
	}
	return from
}

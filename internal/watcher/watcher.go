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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Op says what happened to a path.
type Op uint8

const (
	// Create: the file appeared, by creation or by a rename into the tree.
	Create Op = 1 << iota
	// Write: the file's content changed.
	Write
	// Remove: the file is gone, by removal or by a rename out of its folder.
	Remove
	// Found: a scan saw the file; it may have been there for a while.
	Found
)

func (op Op) String() string {
	var s []string
	for _, o := range []struct {
		op   Op
		name string
	}{{Create, "create"}, {Write, "write"}, {Remove, "remove"}, {Found, "found"}} {
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
}

// Default settings, copied into a Watcher by New.
const (
	DefaultBuffer            = 4096
	DefaultReconcileInterval = 5 * time.Minute
)

// Stats are counters for metrics.
type Stats interface {
	Rescan(reason string)
	Overflow()
}

// Watcher reports the files under its roots on Events.
type Watcher struct {
	// ReconcileInterval is how often every root is rescanned as a safety net
	// against lost events. Zero switches it off.
	ReconcileInterval time.Duration
	// Ignore, if set, names files and folders (by base name) that are
	// neither reported nor entered. It is asked before anything else, so
	// the files a consumer writes itself cost no system call here.
	Ignore func(name string) bool
	// File, if set, names what can only be a file, so that its creation is
	// reported without the Lstat that tells a new folder from a file.
	File func(name string) bool
	// Dirs reports folders' creation and removal too.
	Dirs   bool
	Stats  Stats
	Logger *slog.Logger

	events chan Event
	fsw    *fsnotify.Watcher

	mu    sync.Mutex
	roots map[string]struct{}
	dirs  map[string]struct{} // watched folders

	done   chan struct{} // closed by Close; ends scans still running in Add
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Watcher; call Open to start it.
func New() *Watcher {
	return &Watcher{
		ReconcileInterval: DefaultReconcileInterval,
		Logger:            slog.Default(),
		events:            make(chan Event, DefaultBuffer),
		roots:             make(map[string]struct{}),
		dirs:              make(map[string]struct{}),
		done:              make(chan struct{}),
	}
}

// Events delivers file events. It is never closed: consumers stop on their
// own context, so a scan racing Close never sends on a closed channel.
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
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if w.ignored(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if op == Create && w.Dirs && !w.emit(ctx, Event{Path: p, Op: Create, Dir: true}) {
				return ctx.Err()
			}
			if err := w.scan(ctx, p, op); err != nil {
				w.Logger.Warn("scan folder", "path", p, "err", err)
			}
		case e.Type().IsRegular():
			if !w.emit(ctx, Event{Path: p, Op: op}) {
				return ctx.Err()
			}
		}
	}
	return nil
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
	w.mu.Unlock()
	return nil
}

// forget drops the watches of dir and below; it says whether dir was a
// watched folder.
func (w *Watcher) forget(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.dirs[dir]; !ok {
		return false
	}
	prefix := dir + string(filepath.Separator)
	for d := range w.dirs {
		if d == dir || strings.HasPrefix(d, prefix) {
			delete(w.dirs, d)
			_ = w.fsw.Remove(d) // the kernel may have dropped it already
		}
	}
	return true
}

func (w *Watcher) emit(ctx context.Context, ev Event) bool {
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
	var reconcile <-chan time.Time
	if w.ReconcileInterval > 0 {
		t := time.NewTicker(w.ReconcileInterval)
		defer t.Stop()
		reconcile = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ctx, ev)
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

func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event) {
	if w.ignored(filepath.Base(ev.Name)) {
		return
	}
	switch {
	case ev.Has(fsnotify.Create) && w.File != nil && w.File(filepath.Base(ev.Name)):
		w.emit(ctx, Event{Path: ev.Name, Op: Create, From: renamedFrom(ev)})
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(ev.Name)
		if err != nil {
			return // gone again already
		}
		if fi.IsDir() {
			if w.Dirs {
				w.emit(ctx, Event{Path: ev.Name, Op: Create, From: renamedFrom(ev), Dir: true})
			}
			// A folder created or moved in: watch it, then read it, since
			// files made before the watch existed make no event.
			if err := w.scan(ctx, ev.Name, Create); err != nil {
				w.Logger.Warn("watch new folder", "path", ev.Name, "err", err)
			}
			return
		}
		if fi.Mode().IsRegular() {
			w.emit(ctx, Event{Path: ev.Name, Op: Create, From: renamedFrom(ev)})
		}
	case ev.Has(fsnotify.Write):
		w.emit(ctx, Event{Path: ev.Name, Op: Write})
	case ev.Has(fsnotify.Remove), ev.Has(fsnotify.Rename):
		dir := w.forget(ev.Name)
		if dir && !w.Dirs {
			return
		}
		w.emit(ctx, Event{Path: ev.Name, Op: Remove, Dir: dir})
	}
}

// renamedFrom is the old path of a file that a rename created, which
// fsnotify pairs from the kernel's move cookies but shows only in the
// event's String ("CREATE  \"new\" ← \"old\"").
func renamedFrom(ev fsnotify.Event) string {
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

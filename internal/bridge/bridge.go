// Package bridge connects request files to handler processes: it serves the
// gRPC Connect stream, turns the watcher's file events into requests, hands
// them to registered handlers with per-stream credits, and writes the
// handlers' replies as .response files beside the requests.
//
// A request's path, one type per file: intake (intake.go) reads and checks
// the file; the dispatcher (dispatcher.go), a state machine with no I/O,
// holds it, picks a handler stream and decides every answer; the handler's
// stream (stream.go) converts it to protobuf and sends it, and takes the
// reply back to the dispatcher; the writer (writer.go) writes the response
// and tells the dispatcher, which then lets the request go. Service
// (service.go) is the gRPC service around the streams; the cleaner
// (cleanup.go) runs each app's cleanup; Bridge (bridge.go) opens the apps
// and wires the parts together, and feeds file events to their hub
// (fileevents.go).
package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/events"
	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/internal/watcher"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// Defaults copied into Config by NewConfig.
const (
	// DefaultGrace is how long after an app's first registration a request
	// for an endpoint nobody declared waits before it gets 404, so handlers
	// that connect a moment after the first are not pre-empted.
	DefaultGrace = 2 * time.Second
	// DefaultRequestSettle is how long an unreadable request file must
	// stay unchanged before it is answered 400: a writer may pause between
	// writes.
	DefaultRequestSettle = 1500 * time.Millisecond
	// DefaultDeadline is how long a handler has to reply when its endpoint
	// declares no deadline.
	DefaultDeadline = 60 * time.Second
	// DefaultMaxInFlight is a stream's credit when its handler declares none.
	DefaultMaxInFlight = 16
	// DefaultMaxPending bounds the requests held in memory at once (waiting
	// or in flight): about 46 MB of them (some 920 bytes each). More stay
	// on disk until the backlog drains, so a huge backlog cannot run the
	// sidecar out of memory. It is under half the default --memory-limit
	// (128 MiB): at 100,000 a full backlog kept the garbage collector
	// running almost without pause, and backlogs of 100,000 to 300,000
	// took 5-12% longer than at 50,000, rescans included.
	DefaultMaxPending = 50_000
	// MaxInFlightLimit caps what a stream may declare.
	MaxInFlightLimit = 4096
	// MaxBatchLimit caps a stream's max_batch; maxBatchBytes keeps a batch
	// well inside a client's default 4 MiB receive limit (a larger request
	// still goes alone, as it would unbatched).
	MaxBatchLimit = 256
	maxBatchBytes = 1 << 20
	// DefaultMaxRequestSize bounds a request file. SyftBox sends request
	// files up to 4 MB at once and larger ones by its slower standard sync;
	// 16 MiB leaves apps room beyond that while a held request (its file
	// read once, its body decoded to three quarters of the file) costs
	// little next to the default 128 MiB memory limit. MaxRequestSizeLimit
	// caps the flag so that every request fits the clients' 256 MiB gRPC
	// receive limit with room to spare.
	DefaultMaxRequestSize = 16 << 20
	MaxRequestSizeLimit   = 64 << 20
	// MaxDeadline caps an endpoint deadline or an extension.
	MaxDeadline = 24 * time.Hour
	// DefaultEventBuffer and DefaultEventSettle are Config's defaults for
	// file events.
	DefaultEventBuffer = 10000
	DefaultEventSettle = 50 * time.Millisecond
	// DefaultMaxAttempts is how many handler streams may end while holding
	// one request before it is answered 502: a request that kills every
	// handler it reaches must not cycle through them forever.
	DefaultMaxAttempts = 5
)

// Config says whose datasite the bridge serves and how.
type Config struct {
	Version      string // the sidecar's, as Registered reports it
	Owner        string // lower-cased email of the datasite owner
	DatasitesDir string // absolute
	Grace        time.Duration
	// RequestSettle is how long an unreadable request file must stay
	// unchanged before it is answered 400.
	RequestSettle time.Duration
	Deadline      time.Duration
	MaxInFlight   uint32
	MaxAttempts   uint32
	// MaxRequestSize is the largest request file read; a larger one is
	// answered 413 without being read.
	MaxRequestSize int64
	// MaxPending is how many requests are held in memory at once; the
	// rest wait on disk for a rescan once half of these are answered.
	MaxPending int
	// CleanupExpiry and CleanupInterval are the defaults of every app's
	// cleanup; a handler may set its app's at registration.
	CleanupExpiry   time.Duration
	CleanupInterval time.Duration
	// ReconcileInterval is how often every watched folder is rescanned as
	// a safety net against lost events; zero switches it off.
	ReconcileInterval time.Duration
	// EventBuffer is how many file and listener events are kept for
	// clients that reconnect; EventSettle how long writes to one file must
	// pause before they are one MODIFY.
	EventBuffer int
	EventSettle time.Duration
}

// NewConfig returns a Config with the defaults.
func NewConfig(owner, datasitesDir string) Config {
	return Config{
		Owner:         owner,
		DatasitesDir:  datasitesDir,
		Grace:         DefaultGrace,
		RequestSettle: DefaultRequestSettle,
		Deadline:      DefaultDeadline,
		MaxInFlight:   DefaultMaxInFlight,
		MaxAttempts:   DefaultMaxAttempts,
		MaxPending:    DefaultMaxPending,

		MaxRequestSize: DefaultMaxRequestSize,

		CleanupExpiry:     cleanup.DefaultExpiry,
		CleanupInterval:   cleanup.DefaultInterval,
		ReconcileInterval: watcher.DefaultReconcileInterval,
		EventBuffer:       DefaultEventBuffer,
		EventSettle:       DefaultEventSettle,
	}
}

// Bridge is the sidecar's core. New, then Open, then Close.
type Bridge struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics.Metrics
	watcher *watcher.Watcher

	appDataDir string       // {datasites}/{owner}/app_data
	ownerRoot  *safefs.Root // {datasites}/{owner}
	// appDataPrefix is appDataDir slash-separated with a trailing slash,
	// what locate cuts off every event's path.
	appDataPrefix string

	appsMu sync.Mutex // serializes app creation
	apps   sync.Map   // name -> *app; read lock-free on the hot path
	// d holds every request being handled, from intake until its
	// response is written, and decides what happens to each.
	d *dispatcher
	// w writes the responses that d and intake decide.
	w *writer
	// cleaner runs the apps' cleanups.
	cleaner *cleaner

	hub       *events.Hub
	evWatcher *watcher.Watcher
	evMu      sync.Mutex      // serializes syncRoots
	evRoots   map[string]bool // watched for subscriptions, datasites-relative
	// intake turns the watcher's events into requests.
	intake *intake
	// refused logs refusals at info, rate-limited per reason.
	refused *refusals

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Bridge that reports to m and logs to logger.
func New(cfg Config, m *metrics.Metrics, logger *slog.Logger) *Bridge {
	if logger == nil {
		logger = slog.Default()
	}
	b := &Bridge{
		cfg:        cfg,
		logger:     logger,
		metrics:    m,
		appDataDir: filepath.Join(cfg.DatasitesDir, cfg.Owner, "app_data"),
		refused:    newRefusals(logger),
	}
	b.appDataPrefix = filepath.ToSlash(b.appDataDir) + "/"
	b.d = newDispatcher(cfg, systemClock{}, m, logger, b.refused)
	b.w = newWriter(cfg.Owner, m, logger, b.d.written)
	b.cleaner = newCleaner(&b.apps, b.d.holds, b.d.backlogged, b.w.keeps.forget, m, logger)
	return b
}

// Open creates the owner's datasite folder if needed and starts watching.
func (b *Bridge) Open() error {
	if err := mkdirAll(filepath.Join(b.cfg.DatasitesDir, b.cfg.Owner)); err != nil {
		return fmt.Errorf("create datasite: %w", err)
	}
	root, err := safefs.OpenRoot(filepath.Join(b.cfg.DatasitesDir, b.cfg.Owner))
	if err != nil {
		return fmt.Errorf("open datasite: %w", err)
	}
	b.ownerRoot = root

	b.watcher = watcher.New()
	b.watcher.Logger = b.logger.With("component", "watcher")
	b.watcher.Stats = b.metrics
	b.watcher.ReconcileInterval = b.cfg.ReconcileInterval
	b.watcher.Ignore = ignoreName
	// A response removed while its request stays was never read: see
	// intake.responseRemoved.
	b.watcher.Removals = func(name string) bool { return strings.HasSuffix(name, rpcpath.ResponseExt) }
	// Endpoint and sender folders never end in .request (CleanEndpoint
	// and the email rule refuse it), so such a name is a request file; one
	// that is not is refused when it is read.
	b.watcher.File = func(name string) bool { return strings.HasSuffix(name, ".request") }
	// Intake never asks where a request was renamed from.
	b.watcher.MovedFrom = false
	// A scan leaves out the requests with a response beside them, and the
	// dispatcher says which it let go since a listing (intake's answered
	// check).
	b.watcher.Partners = watcher.Partners{Of: rpcpath.RequestExt, Is: rpcpath.ResponseExt}
	b.d.listings = b.watcher.Listings
	// Events go straight to intake's shards, on the goroutine that found
	// them: no goroutine of its own between the watcher and intake.
	b.intake = newIntake(b)
	b.watcher.Sink = b.sink
	if err := b.watcher.Open(); err != nil {
		root.Close()
		return fmt.Errorf("open watcher: %w", err)
	}

	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.intake.run(b.ctx) }()
	b.w.start(b.ctx, &b.wg, 4)
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.timerLoop(b.ctx) }()
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.backlogLoop(b.ctx) }()
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.cleaner.loop(b.ctx) }()
	if err := b.openEvents(); err != nil {
		b.cancel()
		b.wg.Wait()
		b.watcher.Close()
		root.Close()
		return fmt.Errorf("open event watcher: %w", err)
	}
	return nil
}

// timerLoop steps the dispatcher each time its earliest timer is due, or
// changes, and writes what that decided.
func (b *Bridge) timerLoop(ctx context.Context) {
	wakeLoop(ctx, b.d.wake, func() time.Duration {
		jobs, next := b.d.tick()
		b.w.write(jobs...)
		return next
	})
}

// sink takes the watcher's events for intake. While the backlog is full,
// a scan's files are refused before they are queued: intake would turn
// each away, and the scan then leaves the rest of the folder out; the
// rescan once the backlog halves reports them (backlogLoop), so a backlog
// many times --max-pending costs each rescan its listing, not an event
// for every file still waiting.
func (b *Bridge) sink(ctx context.Context, ev watcher.Event, more bool) bool {
	if ev.Op == watcher.Found && !b.d.admit() {
		return false
	}
	return b.intake.put(ctx, ev, more)
}

// backlogLoop rescans the rpc folders each time the dispatcher, having
// left requests on disk because it held MaxPending, has room again. The
// rescan leaves answered requests out (watcher.Partners), intake skips
// those held, and once the backlog is full again the rest of each folder
// waits for the next rescan (sink).
func (b *Bridge) backlogLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.d.room:
		}
		b.logger.Info("backlog: reading the requests left on disk")
		if err := b.watcher.Rescan(ctx); err != nil && !errors.Is(err, context.Canceled) {
			b.logger.Warn("backlog rescan", "err", err)
		}
	}
}

// Drain stops handing out requests and waits until every request in flight
// is answered (its response written) or ctx ends. Requests not handed out
// stay on disk, unanswered, for the next start.
func (b *Bridge) Drain(ctx context.Context) error {
	done := b.d.drain()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("drain: %d requests still in flight: %w", b.d.inFlight(), ctx.Err())
	}
	// Responses decided before the drain finished may still be queued.
	return b.flushWrites(ctx)
}

// flushWrites waits until every response decided so far is on disk. The
// dispatcher counts them from the moment they are decided, not queued: a
// reply that completed the drain may not have reached the writers yet.
func (b *Bridge) flushWrites(ctx context.Context) error {
	select {
	case <-b.d.allWritten():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops everything. Responses already decided are written first.
func (b *Bridge) Close() error {
	if b.cancel == nil {
		return nil
	}
	err := errors.Join(b.watcher.Close(), b.evWatcher.Close())
	b.hub.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	b.flushWrites(ctx)
	cancel()
	b.cancel()
	b.wg.Wait()
	b.apps.Range(func(_, v any) bool { v.(*app).root.Close(); return true })
	b.ownerRoot.Close()
	b.cancel = nil
	return err
}

// openApp returns the app, creating its rpc folder, permission file and
// watch on first use. created says whether this call made it.
func (b *Bridge) openApp(name string) (a *app, created bool, err error) {
	if v, ok := b.apps.Load(name); ok {
		return v.(*app), false, nil
	}
	b.appsMu.Lock()
	defer b.appsMu.Unlock()
	if v, ok := b.apps.Load(name); ok {
		return v.(*app), false, nil
	}
	rel := path.Join("app_data", name, "rpc")
	if err := b.ownerRoot.MkdirAll(rel, 0o755); err != nil {
		return nil, false, fmt.Errorf("create rpc folder: %w", err)
	}
	root, err := b.ownerRoot.OpenRoot(rel)
	if err != nil {
		return nil, false, fmt.Errorf("open rpc folder: %w", err)
	}
	a = &app{
		name:      name,
		rpcDir:    filepath.Join(b.appDataDir, name, "rpc"),
		root:      root,
		endpoints: make(map[string]*endpoint),
		known:     cleanup.NewKnown(cleanup.DefaultKnownMax),
	}
	a.unknown = b.metrics.ForEndpoint(name, metrics.UnknownEndpoint)
	a.cleanup.expiry, a.cleanup.interval = b.cfg.CleanupExpiry, b.cfg.CleanupInterval
	a.cleanup.unscannedUntil = time.Now().Add(firstCleanupWait)
	if err := writePermissions(root); err != nil {
		b.logger.Warn("write permission file", "app", name, "err", err)
	}
	b.apps.Store(name, a)
	return a, true, nil
}

// writeSchema publishes rpc.schema.json for the endpoints declared so far
// with a schema, and those of eps, about to join, so that the file is in
// place before their Registered. With none, no file is written (a file
// already there is the user's or an earlier run's, and stays); the same
// content is not written twice.
func (b *Bridge) writeSchema(a *app, eps []declared) {
	a.schemaMu.Lock()
	defer a.schemaMu.Unlock()
	entries := b.d.schema(a)
	for _, de := range eps {
		if de.schema == "" {
			continue
		}
		i := slices.IndexFunc(entries, func(e syftrpc.SchemaEntry) bool { return e.Endpoint == de.path })
		if i < 0 {
			entries = append(entries, syftrpc.SchemaEntry{Endpoint: de.path, JSON: de.schema})
		} else {
			entries[i].JSON = de.schema
		}
	}
	if len(entries) == 0 {
		return
	}
	data, err := syftrpc.FormatSchema(entries)
	if err != nil {
		b.logger.Warn("format schema", "app", a.name, "err", err)
		return
	}
	if bytes.Equal(data, a.schema) {
		return
	}
	if err := a.root.WriteFile(schemaFile, data, 0o644); err != nil {
		b.logger.Warn("write schema", "app", a.name, "err", err)
		return
	}
	a.schema = data
}

// ignoreName says which names the watcher need not report or enter: hidden
// ones (our own temporary files among them), responses, and the SyftBox
// client's temporary, conflict and rejected files. Requests and the folders
// that hold them are all that matter here.
func ignoreName(name string) bool {
	return strings.HasSuffix(name, ".response") || rpcpath.Ignored(name)
}

// locate maps an absolute path to the served app it belongs to and the
// path relative to that app's rpc folder, slash-separated as safefs and
// syftrpc take it (the watcher's paths have Windows' backslashes there).
func (b *Bridge) locate(p string) (*app, string, bool) {
	rest, ok := strings.CutPrefix(filepath.ToSlash(p), b.appDataPrefix)
	if !ok {
		return nil, "", false
	}
	name, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, "", false
	}
	rel, ok := strings.CutPrefix(rest, "rpc/")
	if !ok {
		return nil, "", false
	}
	v, ok := b.apps.Load(name)
	if !ok {
		return nil, "", false
	}
	return v.(*app), rel, true
}

// Stuck is how long request intake has been on one file event, when that
// is more than StuckAfter; 0 otherwise.
func (b *Bridge) Stuck() time.Duration {
	if d := b.intake.stuck(time.Now()); d > StuckAfter {
		return d
	}
	return 0
}

// Unwatched is the number of folders, requests' and file events', that
// cannot be watched now (the inotify watch limit): requests in them are
// found by polling, slower, and their file events are reported as missed.
func (b *Bridge) Unwatched() int {
	return b.watcher.Unwatched() + b.evWatcher.Unwatched()
}

var (
	errClosed = errors.New("bridge closed")
	// errUnwatchable is a subscription's tree that cannot be watched now.
	errUnwatchable = errors.New("cannot watch it now: the inotify watch limit is reached (raise fs.inotify.max_user_watches)")
)

package bridge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/internal/watcher"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// lostResponseDelay is how long intake waits, after a response was removed
// while its request stayed, before it answers the request again. A sender
// removes both once it has read the response (syft-rpc: the request first),
// and SyftBox brings both removals to this side in one sync; only a response
// removed alone, as the SyftBox client does when its server dropped the
// response's upload, leaves its request behind for longer than this.
const lostResponseDelay = 2 * time.Second

// nilUUID names a 400 response to a request whose file name is no UUID:
// syft-rpc only reads responses whose id is one.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// intake turns file events into requests. Reading and parsing a request
// file is most of the work per request, so it runs on several workers
// (shards), one per CPU: the watcher hands each event straight to the
// shard its path hashes to (put), on the goroutine that found it, and each
// shard takes its events one at a time, so the events of one file keep
// their order (a Delete never overtakes the Create before it) and the
// per-file state (settling, ignored) is its shard's alone, under its
// lock. Files of one folder are taken in about the order they arrived:
// exactly on one shard, across shards as the workers keep up. No
// goroutine or lock is shared by every event: a shard is one per CPU.
type intake struct {
	b      *Bridge
	shards []*intakeShard
	// waiters are those waiting for every event put so far to be taken
	// (drained); nwaiters lets the hot path skip the lock when none wait.
	waitMu   sync.Mutex
	waiters  []chan struct{}
	nwaiters atomic.Int32
}

// intakeShard is one worker of intake and the state of the files whose
// paths hash to it.
type intakeShard struct {
	in     *intake
	events chan watcher.Event
	// mu is held while an event is handled, by the worker or by the
	// goroutine that put the event and handles it itself; it guards
	// settling and ignored.
	mu sync.Mutex
	// busy is how long it has been on its current event.
	busy stall
	// queued counts the events put to the shard and not yet handled.
	queued atomic.Int32
	// settling holds files that did not parse yet, with their last change.
	settling map[string]time.Time
	// ignored holds files left alone by rule, so that rescans, which see
	// them again, count and log each once; bounded by maxIgnored.
	ignored map[string]struct{}
	// parsed are requests read and checked, not yet submitted: while more
	// events wait, the shard submits up to maxSubmit at once, so that it
	// takes the dispatcher's lock once for them (take).
	parsed []*pending
}

// maxSubmit is the most requests a shard submits at once.
const maxSubmit = 32

// shardQueue is how many events a shard may have waiting: enough that
// a scan handing them out rarely waits for a worker that is behind.
const shardQueue = 256

// maxIgnored bounds intake.ignored: past it, a file ignored again is
// counted again, which only overstates the counter.
const maxIgnored = 10000

// maxNameBytes is the longest file name Linux filesystems take.
const maxNameBytes = 255

func newIntake(b *Bridge) *intake {
	return newIntakeShards(b, runtime.GOMAXPROCS(0))
}

func newIntakeShards(b *Bridge, n int) *intake {
	in := &intake{b: b}
	for range max(n, 1) {
		in.shards = append(in.shards, &intakeShard{
			in: in, events: make(chan watcher.Event, shardQueue),
			settling: make(map[string]time.Time), ignored: make(map[string]struct{}),
		})
	}
	return in
}

// run runs the shards' workers until ctx ends. With one shard there is no
// worker: whoever puts an event handles it.
func (in *intake) run(ctx context.Context) {
	if len(in.shards) == 1 {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	for _, s := range in.shards {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	wg.Wait()
}

// put hands ev to its path's shard, or handles it on the calling
// goroutine when that is as fast: with one shard, or when no other event
// follows at once (more is false) and the shard has nothing to do, where
// a hand-off would only add a wake-up to the event's latency. It is false
// when ctx ended first.
func (in *intake) put(ctx context.Context, ev watcher.Event, more bool) bool {
	s := in.shard(ev.Path)
	if len(in.shards) == 1 {
		s.mu.Lock()
		s.queued.Add(1)
		s.take(ctx, ev)
		s.mu.Unlock()
		in.taken(s)
		return true
	}
	// Nothing queued under the lock: every event put to the shard before
	// this one is handled, so this one keeps its place.
	if !more && s.queued.Load() == 0 && s.mu.TryLock() {
		if s.queued.Load() == 0 {
			s.queued.Add(1)
			s.take(ctx, ev)
			s.mu.Unlock()
			in.taken(s)
			return true
		}
		s.mu.Unlock()
	}
	s.queued.Add(1)
	select {
	case s.events <- ev:
		return true
	case <-ctx.Done():
	}
	in.taken(s)
	return false
}

// taken counts one event of s handled (or abandoned), and wakes those
// waiting for intake to drain once none is left.
func (in *intake) taken(s *intakeShard) {
	if s.queued.Add(-1) == 0 && in.nwaiters.Load() > 0 && in.idle() {
		in.wake()
	}
}

// shard is the shard of the file at p: FNV-1a of the path.
func (in *intake) shard(p string) *intakeShard {
	if len(in.shards) == 1 {
		return in.shards[0]
	}
	h := uint32(2166136261)
	for i := 0; i < len(p); i++ {
		h ^= uint32(p[i])
		h *= 16777619
	}
	return in.shards[h%uint32(len(in.shards))]
}

func (s *intakeShard) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.events:
			s.mu.Lock()
			s.take(ctx, ev)
			s.mu.Unlock()
			s.in.taken(s)
		}
	}
}

// take handles ev, and submits the requests parsed so far once no other
// event waits or maxSubmit are parsed. An event about a file parsed and
// not yet submitted submits first, so that it finds the file held, as it
// would have had each been submitted at once.
func (s *intakeShard) take(ctx context.Context, ev watcher.Event) {
	s.busy.begin()
	for _, p := range s.parsed {
		if p.abs == ev.Path {
			s.submit()
			break
		}
	}
	s.handle(ctx, ev)
	if len(s.parsed) > 0 && (s.queued.Load() <= 1 || len(s.parsed) >= maxSubmit) {
		s.submit()
	}
	s.busy.end()
}

// submit hands the parsed requests to the dispatcher.
func (s *intakeShard) submit() {
	b := s.in.b
	b.w.write(b.d.submit(s.parsed...)...)
	clear(s.parsed)
	s.parsed = s.parsed[:0]
}

// stuck is how long the shard longest on its current event has been on
// it; 0 when every one is idle.
func (in *intake) stuck(now time.Time) time.Duration {
	var d time.Duration
	for _, s := range in.shards {
		d = max(d, s.busy.busy(now))
	}
	return d
}

// idle says whether every event put so far has been handled.
func (in *intake) idle() bool {
	for _, s := range in.shards {
		if s.queued.Load() != 0 {
			return false
		}
	}
	return true
}

// drained is closed once intake has handled every event put by now (and
// any put meanwhile): what a scan that has returned reported is then
// held or answered.
func (in *intake) drained() <-chan struct{} {
	ch := make(chan struct{})
	in.waitMu.Lock()
	in.waiters = append(in.waiters, ch)
	in.nwaiters.Add(1)
	in.waitMu.Unlock()
	// Registered first, looked second: if the last event is handled after
	// this look, taken sees the waiter.
	if in.idle() {
		in.wake()
	}
	return ch
}

func (in *intake) wake() {
	in.waitMu.Lock()
	woken := in.waiters
	in.waiters = nil
	in.nwaiters.Add(-int32(len(woken)))
	in.waitMu.Unlock()
	for _, ch := range woken {
		close(ch)
	}
}

func (s *intakeShard) handle(ctx context.Context, ev watcher.Event) {
	in := s.in
	b := in.b
	a, rel, ok := b.locate(ev.Path)
	if !ok {
		return
	}
	if ev.Op&watcher.Delete != 0 && strings.HasSuffix(rel, rpcpath.ResponseExt) {
		in.responseRemoved(ctx, a, rel)
		return
	}
	if !strings.HasSuffix(rel, rpcpath.RequestExt) {
		return
	}
	if ev.Op&watcher.Delete != 0 {
		delete(s.settling, ev.Path)
		delete(s.ignored, ev.Path)
		b.w.write(b.d.removed(ev.Path)...)
		return
	}
	rp, ok := rpcpath.ParseRequestPath(rel)
	switch {
	case !utf8.ValidString(rel):
		// Its response could not be named in a message or synced.
		s.ignore(ev.Path, "not_utf8")
		return
	case !ok:
		if !rpcpath.Ignored(path.Base(rel)) {
			s.ignore(ev.Path, "bad_path")
		}
		return
	case len(rp.ID)+len(rpcpath.ResponseExt) > maxNameBytes:
		// {id}.request fits in 255 bytes, {id}.response does not.
		s.ignore(ev.Path, "name_too_long")
		return
	}
	held, ok, unsure := b.d.admitFile(ev.Path, ev.Listing)
	if held {
		return
	}
	if !ok {
		delete(s.settling, ev.Path)
		return // stays on disk for the rescan once the backlog halves
	}
	// A file that was just created or renamed in is almost never answered
	// already, and if it is, the response write refuses to replace it; the
	// check is for scans. A scan leaves out the requests it listed with
	// their responses (watcher.Partners); only a response this sidecar
	// wrote after the listing began, or an event that no listing
	// reported, needs a look at the disk.
	if ev.Op&watcher.Create == 0 && unsure {
		respRel := path.Join(path.Dir(rel), rpcpath.ResponseName(rp.ID))
		if answered, _ := a.root.Exists(respRel); answered {
			delete(s.settling, ev.Path)
			return
		}
	}
	seen := time.Now()
	data, stamp, err := a.root.ReadFileStamp(rel, b.cfg.MaxRequestSize)
	if err != nil {
		delete(s.settling, ev.Path)
		switch {
		case errors.Is(err, safefs.ErrTooLarge):
			in.reject(a, rel, rp, seen, 413, fmt.Sprintf("Request too large: the file is over the limit of %d bytes", b.cfg.MaxRequestSize))
			return
		case errors.Is(err, safefs.ErrLinked):
			// Answered, not ignored: the sender learns at once, and nothing
			// of the file, which may be anyone's, is read or quoted.
			in.reject(a, rel, rp, seen, 400, "Error loading request: the request file has more than one link (a hard link); it was not read")
			return
		}
		switch {
		case errors.Is(err, safefs.ErrNotRegular):
			s.ignore(ev.Path, "not_regular")
		case !errors.Is(err, fs.ErrNotExist):
			// A link, or no permission: not a request we may read.
			b.logger.Debug("skip request file", "path", ev.Path, "err", err)
		}
		return
	}
	req, err := syftrpc.ParseRequest(data)
	if err != nil {
		if !s.settled(ctx, ev, seen) {
			return
		}
		in.reject(a, rel, rp, seen, 400, "Error loading request: "+err.Error())
		return
	}
	delete(s.settling, ev.Path)
	if code, msg := in.check(a, rp, req, seen); code != 0 {
		in.rejectParsed(a, rel, req, seen, code, msg)
		return
	}
	s.parsed = append(s.parsed, &pending{
		id: req.ID, abs: ev.Path, rel: rel, epPath: rp.Endpoint,
		app: a, req: req, seen: seen, stamp: stamp,
	})
}

// responseRemoved answers a request again if its response is gone and the
// request is still there after lostResponseDelay: the sender never read
// that response, and without this the request would wait for the next
// reconcile, minutes away.
func (in *intake) responseRemoved(ctx context.Context, a *app, rel string) {
	reqRel := strings.TrimSuffix(rel, rpcpath.ResponseExt) + rpcpath.RequestExt
	if _, ok := rpcpath.ParseRequestPath(reqRel); !ok {
		return
	}
	time.AfterFunc(lostResponseDelay, func() {
		if ok, _ := a.root.Exists(reqRel); !ok {
			return
		}
		if ok, _ := a.root.Exists(rel); ok {
			return
		}
		in.b.metrics.ResponsesLost.Inc()
		in.b.logger.Info("response removed while its request stayed: answering the request again", "path", path.Join(a.rpcDir, rel))
		in.put(ctx, watcher.Event{Path: filepath.Join(a.rpcDir, filepath.FromSlash(reqRel)), Op: watcher.Found}, false)
	})
}

// settled says whether an unreadable file has been left alone long enough
// to call it garbage; if not, it arranges to look again.
func (s *intakeShard) settled(ctx context.Context, ev watcher.Event, now time.Time) bool {
	last, ok := s.settling[ev.Path]
	switch {
	case ev.Op&(watcher.Create|watcher.Modify) != 0 || !ok:
		last = now
		if ev.Op&watcher.Found != 0 {
			// Found by a scan: it may have sat there since before we started.
			if fi, err := os.Lstat(ev.Path); err == nil && fi.ModTime().Before(now) {
				last = fi.ModTime()
			}
		}
	}
	wait := s.in.b.cfg.RequestSettle - now.Sub(last)
	if wait <= 0 {
		delete(s.settling, ev.Path)
		return true
	}
	s.settling[ev.Path] = last
	p := ev.Path
	time.AfterFunc(wait, func() {
		// No op: nothing happened to the file; it is due a second look.
		s.in.put(ctx, watcher.Event{Path: p}, false)
	})
	return false
}

// check applies the rules a parsed request must pass before a handler sees
// it, and returns the status to answer with if it fails one.
func (in *intake) check(a *app, rp rpcpath.RequestPath, req *syftrpc.Request, now time.Time) (int, string) {
	if !strings.EqualFold(req.ID, rp.ID) {
		return 400, fmt.Sprintf("Error loading request: id %s does not match the file name %s", syftrpc.Quote(req.ID), syftrpc.Quote(rp.ID+".request"))
	}
	if rp.Sender != "" && !rpcpath.SameEmail(req.Sender, rp.Sender) {
		return 403, fmt.Sprintf("Forbidden: sender %s does not match the sender folder %s", syftrpc.Quote(req.Sender), syftrpc.Quote(rp.Sender))
	}
	u, err := syftrpc.ParseURL(req.URL)
	if err != nil {
		if strings.Contains(req.URL, "..") {
			return 403, fmt.Sprintf("Forbidden: url %s leaves its endpoint", syftrpc.Quote(req.URL))
		}
		return 400, fmt.Sprintf("Error loading request: %v", err)
	}
	if !rpcpath.SameEmail(u.Owner, in.b.cfg.Owner) || u.App != a.name || u.Endpoint != rp.Endpoint {
		return 403, fmt.Sprintf("Forbidden: url %s does not name this endpoint (syft://%s/app_data/%s/rpc%s)", syftrpc.Quote(req.URL), in.b.cfg.Owner, a.name, rp.Endpoint)
	}
	if now.After(req.Expires) {
		return 419, "Request expired"
	}
	return 0, ""
}

// ignore leaves a file alone by rule, counting and logging it once.
func (s *intakeShard) ignore(p, reason string) {
	if _, done := s.ignored[p]; done {
		return
	}
	if len(s.ignored) < maxIgnored {
		s.ignored[p] = struct{}{}
	}
	s.in.b.metrics.RequestsIgnored.WithLabelValues(reason).Inc()
	s.in.b.refused.note(reason, "path", p, "answered", false)
}

// reject answers a request file that could not be read as a request.
func (in *intake) reject(a *app, rel string, rp rpcpath.RequestPath, seen time.Time, code int, msg string) {
	id := rp.ID
	if !isUUID(id) {
		id = nilUUID
	}
	u := syftrpc.URL{Owner: in.b.cfg.Owner, App: a.name, Endpoint: rp.Endpoint}
	in.respond(a, rel, id, u.String(), time.Time{}, seen, code, msg)
}

// rejectParsed answers a request that was read but refused.
func (in *intake) rejectParsed(a *app, rel string, req *syftrpc.Request, seen time.Time, code int, msg string) {
	in.respond(a, rel, req.ID, req.URL, req.Expires, seen, code, msg)
}

func (in *intake) respond(a *app, rel, id, url string, expires, seen time.Time, code int, msg string) {
	abs := path.Join(a.rpcDir, rel)
	m := in.b.d.metricsFor(a, path.Dir(rel))
	m.Received.Inc()
	in.b.refused.note(refusalReason(code), "path", abs, "code", code, "body", msg)
	if !in.b.d.reserve(abs) {
		return
	}
	in.b.w.write(writeJob{
		root: a.root, rel: rel, abs: abs, id: id, url: url, expires: expires,
		seen: seen, m: m, code: code, body: []byte(msg),
	})
}

// refusalReason names the reason of an answer intake gives itself.
func refusalReason(code int) string {
	switch code {
	case 400:
		return "unreadable"
	case 403:
		return "forbidden"
	case 413:
		return "too_large"
	case 419:
		return "expired"
	}
	return "status_" + strconv.Itoa(code)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

package bridge

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// heldFiles is the set of request files the dispatcher holds, from intake
// until their responses are written, with the releases a scan's listing
// may not have seen. It is split by a hash of the path into shards, each
// with its own lock, apart from the dispatcher's: intake asks about every
// file before reading it and the writers release every request, and
// neither then waits on the lock that routing and replies take.
//
// Who may change what: an entry is added by submit (under the dispatcher's
// lock) or reserve, and leaves by release once answered, or by drop under
// the dispatcher's lock. A pending's state is the dispatcher's; release
// reads it only for a request answered, which nothing changes after.
type heldFiles struct {
	seed   maphash.Seed
	shards [heldShards]heldShard
	// unwritten counts the requests answered whose responses are not yet
	// written; allDone, guarded by doneMu, is closed when it drops to 0.
	unwritten atomic.Int64
	doneMu    sync.Mutex
	allDone   chan struct{}
}

// heldShards is how many locks the held files are split over: enough that
// two cores seldom want the same one.
const heldShards = 64

type heldShard struct {
	mu       sync.Mutex
	files    map[string]*pending
	released releases
	_        [64]byte // the next shard's lock on a cache line of its own
}

// releases are the requests let go since listing number from (by a hash
// of their path, to the count of listings at their release); what was
// let go earlier is forgotten. It is cleared, and from moved to the count
// then, once it holds maxReleased/heldShards or has been filling for
// releaseWindow.
type releases struct {
	at    map[uint64]uint64
	from  uint64
	since time.Time
}

// maxReleased and releaseWindow bound releases: a listing whose events
// intake takes after a clear only costs a system call per request.
const (
	maxReleased   = 1 << 16
	releaseWindow = time.Minute
)

func newHeldFiles() *heldFiles {
	h := &heldFiles{seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].files = make(map[string]*pending)
		h.shards[i].released.at = make(map[uint64]uint64)
	}
	return h
}

// shard is abs's shard, locked, and abs's hash.
func (h *heldFiles) shard(abs string) (*heldShard, uint64) {
	sum := maphash.String(h.seed, abs)
	s := &h.shards[sum%heldShards]
	s.mu.Lock()
	return s, sum
}

// holds says whether abs is held.
func (h *heldFiles) holds(abs string) bool {
	s, _ := h.shard(abs)
	defer s.mu.Unlock()
	_, ok := s.files[abs]
	return ok
}

// check says whether abs is held and, if not, whether it may have been
// let go since the listing numbered listing (0: none) began.
func (h *heldFiles) check(abs string, listing uint64) (held, unsure bool) {
	s, sum := h.shard(abs)
	defer s.mu.Unlock()
	if _, ok := s.files[abs]; ok {
		return true, true
	}
	r := &s.released
	if listing == 0 || listing <= r.from {
		return false, true
	}
	at, ok := r.at[sum]
	return false, ok && at >= listing
}

// get returns the request held at abs, or nil.
func (h *heldFiles) get(abs string) *pending {
	s, _ := h.shard(abs)
	defer s.mu.Unlock()
	return s.files[abs]
}

// add holds p unless its file is held already.
func (h *heldFiles) add(p *pending) bool {
	s, _ := h.shard(p.abs)
	defer s.mu.Unlock()
	if _, ok := s.files[p.abs]; ok {
		return false
	}
	s.files[p.abs] = p
	return true
}

// drop lets p go, with nothing to write, if it is the request held at its
// path.
func (h *heldFiles) drop(p *pending) {
	s, _ := h.shard(p.abs)
	defer s.mu.Unlock()
	if s.files[p.abs] == p {
		delete(s.files, p.abs)
	}
}

// reserve holds abs for a response that intake decided itself, until it is
// written. It is false when abs is held already.
func (h *heldFiles) reserve(abs string) bool {
	s, _ := h.shard(abs)
	defer s.mu.Unlock()
	if _, ok := s.files[abs]; ok {
		return false
	}
	s.files[abs] = &pending{abs: abs, state: stateAnswered}
	h.owe()
	return true
}

// owe counts one more response to write.
func (h *heldFiles) owe() { h.unwritten.Add(1) }

// release lets go each of abs that is answered, noting it against the
// count of listings begun (listings, 0 for none), and appends those that
// intake parsed to ps.
func (h *heldFiles) release(ps []*pending, abs []string, listings uint64, now time.Time) []*pending {
	for _, a := range abs {
		s, sum := h.shard(a)
		p := s.files[a]
		if p == nil || p.state != stateAnswered {
			s.mu.Unlock()
			continue
		}
		delete(s.files, a)
		s.released.note(sum, listings, now)
		s.mu.Unlock()
		if p.req != nil {
			ps = append(ps, p)
		}
		if h.unwritten.Add(-1) == 0 {
			h.wakeWritten()
		}
	}
	return ps
}

// note notes the release of the file whose path hashes to sum at the
// count of listings begun.
func (r *releases) note(sum, listings uint64, now time.Time) {
	if listings <= r.from {
		// Every listing begun after from began after this release too.
		return
	}
	if len(r.at) == 0 {
		r.since = now
	} else if len(r.at) >= maxReleased/heldShards || now.Sub(r.since) >= releaseWindow {
		clear(r.at)
		r.from = listings
		return
	}
	r.at[sum] = listings
}

// wakeWritten closes allDone if nothing is left to write.
func (h *heldFiles) wakeWritten() {
	h.doneMu.Lock()
	defer h.doneMu.Unlock()
	if h.allDone != nil && h.unwritten.Load() == 0 {
		close(h.allDone)
		h.allDone = nil
	}
}

// allWritten returns a channel that is closed once every response decided so
// far is written (at once if none is waiting).
func (h *heldFiles) allWritten() <-chan struct{} {
	h.doneMu.Lock()
	defer h.doneMu.Unlock()
	if h.unwritten.Load() == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if h.allDone == nil {
		h.allDone = make(chan struct{})
	}
	return h.allDone
}

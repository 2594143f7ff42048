package cleanup

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

// DefaultKnownMax is how many requests a Known remembers at most: 69 days
// of one request a minute (the default expiry is 30), a day of one a
// second. Each costs 63 to 96 bytes (BenchmarkKnownMemory: a 40-byte map
// slot, with the path's 64-bit hash, the stamp, the created time and the
// run that last saw it, and the map's spare room), so 6 MB when full.
const DefaultKnownMax = 100_000

// Known remembers, for one app's rpc folder, the created time of each
// request file already read, with the stamp (modification time, size) of
// the file it was read from, so that a cleanup run reads only the requests
// that are new or changed since. The sidecar fills it too, with what it
// parsed of each request it answered. It is safe for concurrent use.
//
// It holds at most max requests; past that, a request it does not hold is
// read by every run, as without it. What a run does not find on disk (a
// file gone, or one in a folder that could not be listed) is forgotten at
// the run's end, and so is what it removes.
//
// Paths are held by a 64-bit hash with a seed of this process: a request
// takes another's created time only if their hashes collide and their
// stamps agree to the nanosecond and the byte, and even then its age
// counts from its own modification time at the latest.
type Known struct {
	mu   sync.Mutex
	seed maphash.Seed
	max  int
	run  uint32 // the current run; entries last seen by an earlier one are swept
	m    map[uint64]known
}

type known struct {
	modTime, size int64
	created       int64 // unix nanoseconds, clamped; unparsable: math.MaxInt64
	run           uint32
}

// NewKnown returns a Known that holds at most max requests.
func NewKnown(max int) *Known {
	return &Known{seed: maphash.MakeSeed(), max: max, m: make(map[uint64]known)}
}

// Noted is a request the sidecar read: at Rel (relative to the rpc folder,
// as the cleanup names it), read with stamp Stamp, it says it was created
// at Created.
type Noted struct {
	Rel     string
	Created time.Time
	Stamp   safefs.Stamp
}

// NoteAll remembers each of ns, in one taking of k's lock: every request
// the sidecar answers passes it, and its writers release their requests
// in batches.
func (k *Known) NoteAll(ns []Noted) {
	if k == nil || len(ns) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range ns {
		k.putLocked(maphash.String(k.seed, n.Rel), n.Stamp, nanos(n.Created))
	}
}

// Len says how many requests k holds.
func (k *Known) Len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

func (k *Known) putLocked(h uint64, s safefs.Stamp, created int64) {
	if _, ok := k.m[h]; !ok && len(k.m) >= k.max {
		return
	}
	k.m[h] = known{modTime: s.ModTime.UnixNano(), size: s.Size, created: created, run: k.run}
}

// begin starts a run.
func (k *Known) begin() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.run++
	k.mu.Unlock()
}

// lookup returns the created time remembered for rel if its stamp is still
// s, and keeps it past this run.
func (k *Known) lookup(rel string, s safefs.Stamp) (created int64, ok bool) {
	if k == nil {
		return 0, false
	}
	h := maphash.String(k.seed, rel)
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[h]
	if !ok || e.modTime != s.ModTime.UnixNano() || e.size != s.Size {
		return 0, false
	}
	e.run = k.run
	k.m[h] = e
	return e.created, true
}

// store remembers what a run read.
func (k *Known) store(rel string, s safefs.Stamp, created int64) {
	if k == nil {
		return
	}
	h := maphash.String(k.seed, rel)
	k.mu.Lock()
	k.putLocked(h, s, created)
	k.mu.Unlock()
}

// forget drops rel, which a run removed.
func (k *Known) forget(rel string) {
	if k == nil {
		return
	}
	h := maphash.String(k.seed, rel)
	k.mu.Lock()
	delete(k.m, h)
	k.mu.Unlock()
}

// sweep forgets, at a run's end, what the run did not see.
func (k *Known) sweep() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for h, e := range k.m {
		if e.run != k.run {
			delete(k.m, h)
		}
	}
}

// unparsed is the created time of a request that could not be parsed: it
// ages by its modification time.
const unparsed = math.MaxInt64

// nanos is t in unix nanoseconds, clamped to what an int64 holds: a
// created time past 2262 is as good as never, one before 1678 as old as
// any.
func nanos(t time.Time) int64 {
	switch {
	case t.After(maxNanos):
		return math.MaxInt64
	case t.Before(minNanos):
		return math.MinInt64
	}
	return t.UnixNano()
}

var (
	maxNanos = time.Unix(0, math.MaxInt64)
	minNanos = time.Unix(0, math.MinInt64)
)

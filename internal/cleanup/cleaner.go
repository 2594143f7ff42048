// Package cleanup removes an app's old request and response files, as
// syft-event's PeriodicCleanup does, with the same duration grammar (package
// duration).
package cleanup

import (
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// Defaults, as syft-event 0.4.3 has them.
const (
	DefaultExpiry   = 30 * 24 * time.Hour
	DefaultInterval = time.Hour
)

// tmpAge is how old one of our own temporary files must be before it is
// taken for a crash's leftover.
const tmpAge = time.Hour

// Stats are the counts of one run, as syft-event's CleanupStats has them.
// Rejected markers and leftover temporary files count in Removed only.
type Stats struct {
	RequestsDeleted  uint64
	ResponsesDeleted uint64
	Errors           uint64
	LastCleanup      time.Time
	// Read counts the requests read for their created time.
	Read uint64
	// Removed counts every file removed, by kind: "request", "response",
	// "orphan_response", "rejected", "tmp".
	Removed map[string]uint64
}

// Cleaner removes the old files of one app's rpc folder.
type Cleaner struct {
	Root   *safefs.Root // the app's rpc folder
	Expiry time.Duration
	// Busy says whether the request at rel (relative to Root) is in flight
	// or waiting for a handler: such a request is never removed.
	Busy   func(rel string) bool
	Logger *slog.Logger
	// Known, if set, is what earlier runs and the sidecar learned of the
	// requests' created times: a request whose file has not changed since
	// is not read again.
	Known *Known
}

// Run removes, under Root:
//   - requests older than Expiry, with their responses. Age counts from the
//     request's created time or the file's modification time, whichever is
//     older, so a sender cannot keep a file forever with a future created;
//     an unreadable request ages by its modification time;
//   - responses whose request is gone, rejected markers, both by
//     modification time;
//   - our own temporary files left by a crash;
//   - sender folders that are empty and were last changed before the expiry.
//
// Endpoint folders, their .syftkeep, syft.pub.yaml and rpc.schema.json stay.
func (c *Cleaner) Run(now time.Time) Stats {
	st := Stats{LastCleanup: now, Removed: map[string]uint64{}}
	c.Known.begin()
	c.dir(".", now, &st)
	c.Known.sweep()
	return st
}

func (c *Cleaner) dir(rel string, now time.Time, st *Stats) {
	entries, err := c.Root.ReadDir(rel)
	if err != nil {
		st.Errors++
		c.Logger.Warn("cleanup: read folder", "path", rel, "err", err)
		return
	}
	files := make(map[string]safefs.Entry, len(entries))
	for _, e := range entries {
		if e.Regular {
			files[e.Name] = e
		}
	}
	cutoff := now.Add(-c.Expiry)
	remove := func(name, kind string) bool {
		if err := c.Root.Remove(path.Join(rel, name)); err != nil {
			st.Errors++
			c.Logger.Warn("cleanup: remove", "path", path.Join(rel, name), "err", err)
			return false
		}
		st.Removed[kind]++
		delete(files, name)
		return true
	}
	for name, e := range files {
		switch {
		case strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp"):
			if e.ModTime.Before(now.Add(-tmpAge)) {
				remove(name, "tmp")
			}
		case isRejected(name):
			if e.ModTime.Before(cutoff) {
				remove(name, "rejected")
			}
		case strings.HasSuffix(name, rpcpath.RequestExt) && !rpcpath.Ignored(name):
			req := path.Join(rel, name)
			// A request being handled stays whatever its age. Asking
			// first spares reading every pending request of a backlog;
			// one old by its file time is old whatever its created says.
			if c.busy(req) {
				continue
			}
			if !e.ModTime.Before(cutoff) && (!c.createdBefore(req, e.Stamp(), cutoff, st) || c.busy(req)) {
				continue // the read took a while: it may have been taken up meanwhile
			}
			if remove(name, "request") {
				c.Known.forget(req)
				st.RequestsDeleted++
				resp := strings.TrimSuffix(name, rpcpath.RequestExt) + rpcpath.ResponseExt
				if _, ok := files[resp]; ok && remove(resp, "response") {
					st.ResponsesDeleted++
				}
			}
		}
	}
	// What is left of the responses has no request beside it.
	for name, e := range files {
		if !strings.HasSuffix(name, rpcpath.ResponseExt) || strings.HasPrefix(name, ".") {
			continue
		}
		req := strings.TrimSuffix(name, rpcpath.ResponseExt) + rpcpath.RequestExt
		if _, ok := files[req]; ok || !e.ModTime.Before(cutoff) {
			continue
		}
		if remove(name, "orphan_response") {
			st.ResponsesDeleted++
		}
	}
	for _, e := range entries {
		if !e.Dir || strings.HasPrefix(e.Name, ".") || rpcpath.Ignored(e.Name) {
			continue
		}
		sub := path.Join(rel, e.Name)
		c.dir(sub, now, st)
		// A sender folder goes once it is empty and had no change for the
		// expiry (its time as read before this run): a sender's client
		// makes the folder and then renames a request in, and a folder
		// taken away in between would lose that request. An endpoint
		// folder holds .syftkeep and is never empty. A sender folder's own
		// .syftkeep (which keeps the SyftBox client from removing it while
		// it is served) goes with it.
		if rpcpath.IsEmail(e.Name) && e.ModTime.Before(cutoff) {
			c.removeSenderFolder(sub)
		}
	}
}

// removeSenderFolder removes the sender folder rel if nothing but a
// .syftkeep is in it.
func (c *Cleaner) removeSenderFolder(rel string) {
	entries, err := c.Root.ReadDir(rel)
	if err != nil || len(entries) > 1 {
		return
	}
	if len(entries) == 1 {
		if entries[0].Name != rpcpath.KeepFile || entries[0].Dir {
			return
		}
		if err := c.Root.Remove(path.Join(rel, rpcpath.KeepFile)); err != nil {
			return
		}
	}
	// A request renamed in meanwhile makes this fail, and it stays; the
	// sidecar puts the .syftkeep back with its response.
	_ = c.Root.RemoveEmptyDir(rel)
}

// maxAgeRead bounds what age reads of a request: a larger one, which the
// sidecar refuses anyway, ages from its file time.
const maxAgeRead = 1 << 20

// createdBefore says whether the request at rel, listed with stamp s, says
// it was created before t; an unreadable or unparsable one does not. It
// reads the file only if Known does not hold it with that stamp, and
// remembers what it read; a file that could not be read is read again by
// the next run (the failure may pass), one that could not be parsed is not
// until it changes.
func (c *Cleaner) createdBefore(rel string, s safefs.Stamp, t time.Time, st *Stats) bool {
	created, ok := c.Known.lookup(rel, s)
	if !ok {
		st.Read++
		data, read, err := c.Root.ReadFileStamp(rel, maxAgeRead)
		if err != nil {
			return false
		}
		created = unparsed
		if req, err := syftrpc.ParseRequest(data); err == nil {
			created = nanos(req.Created)
		}
		c.Known.store(rel, read, created)
	}
	return created < nanos(t)
}

func (c *Cleaner) busy(rel string) bool { return c.Busy != nil && c.Busy(rel) }

// isRejected matches the markers the SyftBox client leaves for requests the
// server refused: {id}.rejected.request, {id}.rejected.{stamp}.request and
// names with syftrejected.
func isRejected(name string) bool {
	return strings.Contains(name, "syftrejected") ||
		(strings.Contains(name, ".rejected.") && strings.HasSuffix(name, rpcpath.RequestExt))
}

package cleanup_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

const expiry = 7 * 24 * time.Hour

// MustFile writes a file under dir with the given modification time.
func MustFile(t *testing.T, dir, rel string, data []byte, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return p
}

func request(id string, created time.Time) []byte {
	r := syftrpc.Request{ID: id, Sender: "alice@example.com", URL: "syft://bob@example.com/app_data/app/rpc/ep",
		Headers: map[string]string{}, Created: created, Expires: created.Add(time.Hour), Method: "GET"}
	return r.AppendJSON(nil)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	old, young := now.Add(-expiry-time.Hour), now.Add(-time.Hour)
	const (
		idOld        = "00000000-0000-4000-8000-000000000001"
		idYoung      = "00000000-0000-4000-8000-000000000002"
		idFuture     = "00000000-0000-4000-8000-000000000003"
		idBusy       = "00000000-0000-4000-8000-000000000004"
		idBroken     = "00000000-0000-4000-8000-000000000005"
		idOrphan     = "00000000-0000-4000-8000-000000000006"
		idYoungO     = "00000000-0000-4000-8000-000000000007"
		idCreatedOld = "00000000-0000-4000-8000-000000000008"
	)
	s := "ep/alice@example.com/"
	oldReq := MustFile(t, dir, s+idOld+".request", request(idOld, old), old)
	oldResp := MustFile(t, dir, s+idOld+".response", []byte("r"), old)
	youngReq := MustFile(t, dir, s+idYoung+".request", request(idYoung, young), young)
	youngResp := MustFile(t, dir, s+idYoung+".response", []byte("r"), young)
	// A future created does not keep an old file: its mtime is older.
	futureReq := MustFile(t, dir, s+idFuture+".request", request(idFuture, now.Add(1000*time.Hour)), old)
	// An old created ages a file whose mtime is new.
	createdOld := MustFile(t, dir, s+idCreatedOld+".request", request(idCreatedOld, old), young)
	busyReq := MustFile(t, dir, s+idBusy+".request", request(idBusy, old), old)
	broken := MustFile(t, dir, s+idBroken+".request", []byte("{garbage"), old)
	orphan := MustFile(t, dir, s+idOrphan+".response", []byte("r"), old)
	youngOrphan := MustFile(t, dir, s+idYoungO+".response", []byte("r"), young)
	rejected := MustFile(t, dir, s+idOld+".rejected.request", []byte("x"), old)
	tmpOld := MustFile(t, dir, s+"."+idOld+".response.1-2.tmp", []byte("x"), now.Add(-2*time.Hour))
	tmpNew := MustFile(t, dir, s+"."+idYoung+".response.1-3.tmp", []byte("x"), now.Add(-time.Minute))
	legacy := MustFile(t, dir, "ep/"+idOld+".request", request(idOld, old), old)
	keep := MustFile(t, dir, "ep/.syftkeep", nil, old)
	perms := MustFile(t, dir, "syft.pub.yaml", []byte("rules: []"), old)
	schema := MustFile(t, dir, "rpc.schema.json", []byte("{}"), old)
	emptySender := MustFile(t, dir, "ep/carol@example.com/"+idOld+".request", request(idOld, old), old)
	if err := os.Chtimes(filepath.Dir(emptySender), old, old); err != nil {
		t.Fatal(err)
	}
	// Empty, but new: a sender's client may be about to rename a request in.
	newSender := filepath.Join(dir, "ep", "dave@example.com")
	if err := os.MkdirAll(newSender, 0o755); err != nil {
		t.Fatal(err)
	}
	// A sender folder kept by its .syftkeep alone (the sidecar puts one in
	// each sender folder it answers in): idle past the expiry, it goes with
	// it; changed lately, both stay.
	idleKept := MustFile(t, dir, "ep/erin@example.com/.syftkeep", nil, old)
	if err := os.Chtimes(filepath.Dir(idleKept), old, old); err != nil {
		t.Fatal(err)
	}
	newKept := MustFile(t, dir, "ep/frank@example.com/.syftkeep", nil, old)
	emptyEndpoint := filepath.Join(dir, "other")
	os.MkdirAll(emptyEndpoint, 0o755)
	// A sender folder that links out of the tree is not entered.
	outside := t.TempDir()
	outsideReq := MustFile(t, outside, idOld+".request", request(idOld, old), old)
	if err := os.Symlink(outside, filepath.Join(dir, "ep", "eve@example.com")); err != nil {
		t.Fatal(err)
	}

	root, err := safefs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	c := &cleanup.Cleaner{
		Root: root, Expiry: expiry, Logger: slog.Default(),
		Busy: func(rel string) bool { return rel == s+idBusy+".request" },
	}
	st := c.Run(now)

	for _, p := range []string{oldReq, oldResp, futureReq, createdOld, broken, orphan, rejected, tmpOld, legacy, filepath.Dir(emptySender), filepath.Dir(idleKept)} {
		if exists(p) {
			t.Errorf("%s should be gone", p[len(dir):])
		}
	}
	for _, p := range []string{youngReq, youngResp, busyReq, youngOrphan, tmpNew, keep, perms, schema, emptyEndpoint, outsideReq, newSender, newKept} {
		if !exists(p) {
			t.Errorf("%s should be kept", p)
		}
	}
	// Requests: old, future, createdOld, broken, legacy, the empty sender's.
	// Responses: old's, and the orphan.
	if st.RequestsDeleted != 6 || st.ResponsesDeleted != 2 || st.Errors != 0 || !st.LastCleanup.Equal(now) {
		t.Errorf("stats = %+v", st)
	}
	if st.Removed["rejected"] != 1 || st.Removed["tmp"] != 1 || st.Removed["orphan_response"] != 1 {
		t.Errorf("removed = %v", st.Removed)
	}
}

// A request old only by its created is read before it goes; one taken up
// by the sidecar during that read stays.
func TestRunBusyDuringRead(t *testing.T) {
	dir := t.TempDir()
	const id = "00000000-0000-4000-8000-000000000009"
	rel := "ep/alice@example.com/" + id + ".request"
	p := MustFile(t, dir, rel, request(id, now.Add(-expiry-time.Hour)), now.Add(-time.Hour))
	root, err := safefs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	asked := 0
	c := &cleanup.Cleaner{
		Root: root, Expiry: expiry, Logger: slog.Default(),
		// Not busy when first asked; busy from then on, as if intake took
		// it up while the cleanup read it.
		Busy: func(r string) bool {
			if r != rel {
				t.Errorf("Busy(%q)", r)
			}
			asked++
			return asked > 1
		},
	}
	if st := c.Run(now); st.RequestsDeleted != 0 || !exists(p) {
		t.Errorf("a request taken up during the read was removed: %+v", st)
	}
	if asked != 2 {
		t.Errorf("Busy asked %d times, want before and after the read", asked)
	}
}

// young writes n requests created an hour ago under dir, and returns their
// paths relative to it.
func young(t *testing.T, dir string, n int) []string {
	t.Helper()
	var rels []string
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		rel := "ep/alice@example.com/" + id + ".request"
		MustFile(t, dir, rel, request(id, now.Add(-time.Hour)), now.Add(-time.Hour))
		rels = append(rels, rel)
	}
	return rels
}

func mustRoot(t *testing.T, dir string) *safefs.Root {
	t.Helper()
	root, err := safefs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// A second run reads none of the requests the first read, as Stats.Read
// counts and as the files' access times show; a file rewritten since is
// read again, and one the run removed or that went is forgotten.
func TestRunReadsOnce(t *testing.T) {
	dir := t.TempDir()
	rels := young(t, dir, 5)
	garbage := MustFile(t, dir, "ep/alice@example.com/00000000-0000-4000-8000-00000000000a.request", []byte("{"), now.Add(-time.Hour))
	known := cleanup.NewKnown(100)
	c := &cleanup.Cleaner{Root: mustRoot(t, dir), Expiry: expiry, Logger: slog.Default(), Known: known}

	if st := c.Run(now); st.Read != 6 || st.RequestsDeleted != 0 || known.Len() != 6 {
		t.Fatalf("first run: %+v, %d known; want 6 read and known", st, known.Len())
	}
	// relatime updates a file's access time when a read finds it not after
	// the modification time: set it back, so that a second read shows.
	before := now.Add(-2 * time.Hour)
	atimesWork := true
	for _, rel := range append(rels, garbage[len(dir)+1:]) {
		p := filepath.Join(dir, rel)
		if !atime(t, p).After(now) {
			atimesWork = false // noatime: the first run's reads left no trace
		}
		if err := os.Chtimes(p, before, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Run(now); st.Read != 0 || st.RequestsDeleted != 0 || known.Len() != 6 {
		t.Fatalf("second run: %+v, %d known; want nothing read, 6 known", st, known.Len())
	}
	if atimesWork {
		for _, rel := range rels {
			if a := atime(t, filepath.Join(dir, rel)); !a.Equal(before) {
				t.Errorf("%s read again by the second run (access time %s)", rel, a)
			}
		}
	} else {
		t.Log("access times are not kept here: only Stats.Read shows the reads")
	}

	// Rewritten, created long ago: read again, and old, so removed.
	MustFile(t, dir, rels[0], request("00000000-0000-4000-8000-000000000000", now.Add(-expiry-time.Hour)), now.Add(-time.Hour+time.Second))
	// Same content and size, new time: read again, kept.
	MustFile(t, dir, rels[1], request("00000000-0000-4000-8000-000000000001", now.Add(-time.Hour)), now.Add(-time.Minute))
	// Gone.
	if err := os.Remove(filepath.Join(dir, rels[2])); err != nil {
		t.Fatal(err)
	}
	st := c.Run(now)
	if st.Read != 2 || st.RequestsDeleted != 1 || exists(filepath.Join(dir, rels[0])) || known.Len() != 4 {
		t.Fatalf("after changes: %+v, %d known; want 2 read, the old one removed, 4 known", st, known.Len())
	}
	if st := c.Run(now); st.Read != 0 {
		t.Fatalf("fourth run read %d", st.Read)
	}
	// The unparsable one ages by its file time, read or remembered.
	if st := c.Run(now.Add(expiry)); st.Read != 0 || exists(garbage) || st.RequestsDeleted != 4 || known.Len() != 0 {
		t.Fatalf("past the expiry: %+v, %d known", st, known.Len())
	}
}

// Past its cap, Known takes nothing more, and what it does not hold is
// read by every run.
func TestRunKnownCap(t *testing.T) {
	dir := t.TempDir()
	young(t, dir, 5)
	known := cleanup.NewKnown(3)
	c := &cleanup.Cleaner{Root: mustRoot(t, dir), Expiry: expiry, Logger: slog.Default(), Known: known}
	for run, want := range []uint64{5, 2, 2} {
		if st := c.Run(now); st.Read != want || known.Len() != 3 {
			t.Fatalf("run %d: read %d, %d known; want %d read, 3 known", run, st.Read, known.Len(), want)
		}
	}
}

// What the sidecar noted of a request is taken as read: its created ages
// it without a read, unless the file changed since; a busy request stays
// whatever Known says.
func TestRunNoted(t *testing.T) {
	dir := t.TempDir()
	rels := young(t, dir, 3)
	root := mustRoot(t, dir)
	known := cleanup.NewKnown(100)
	stamp := func(rel string) safefs.Stamp {
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return safefs.Stamp{ModTime: fi.ModTime(), Size: fi.Size()}
	}
	old := now.Add(-expiry - time.Hour)
	known.NoteAll([]cleanup.Noted{
		{Rel: rels[0], Created: old, Stamp: stamp(rels[0])},                      // says old: removed unread
		{Rel: rels[1], Created: old, Stamp: stamp(rels[1])},                      // busy: stays
		{Rel: rels[2], Created: old, Stamp: safefs.Stamp{ModTime: now, Size: 1}}, // another file's stamp: read
	})
	c := &cleanup.Cleaner{Root: root, Expiry: expiry, Logger: slog.Default(), Known: known,
		Busy: func(rel string) bool { return rel == rels[1] }}
	st := c.Run(now)
	if st.Read != 1 || st.RequestsDeleted != 1 || exists(filepath.Join(dir, rels[0])) || !exists(filepath.Join(dir, rels[1])) || !exists(filepath.Join(dir, rels[2])) {
		t.Fatalf("%+v", st)
	}
	// The busy one was not seen by the run: forgotten, it is read once it
	// is let go.
	if known.Len() != 1 {
		t.Fatalf("%d known, want the one read", known.Len())
	}
}

// Notes may come while a run goes on (the race detector watches).
func TestKnownConcurrent(t *testing.T) {
	dir := t.TempDir()
	rels := young(t, dir, 50)
	known := cleanup.NewKnown(100)
	c := &cleanup.Cleaner{Root: mustRoot(t, dir), Expiry: expiry, Logger: slog.Default(), Known: known}
	// The notes carry the files' own stamps, as the sidecar's do, so that
	// whichever of a note and the run's read lands last, the second run
	// finds every file known.
	stamps := make([]safefs.Stamp, len(rels))
	for i, rel := range rels {
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		stamps[i] = safefs.Stamp{ModTime: fi.ModTime(), Size: fi.Size()}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, rel := range rels {
			known.NoteAll([]cleanup.Noted{{Rel: rel, Created: now, Stamp: stamps[i]}})
		}
	}()
	c.Run(now)
	<-done
	if st := c.Run(now); st.Read != 0 || st.RequestsDeleted != 0 {
		t.Fatalf("%+v", st)
	}
}

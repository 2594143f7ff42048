package bridge

import (
	"hash/maphash"
	"testing"
	"time"
)

// admitFile answers holds and admit in one step; each answer here is checked
// against what the two give separately.
func TestDispatcherAdmitFile(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxPending = 2 })
	r.connect(10, "/echo")
	const a, b, c = "/rpc/echo/bob@example.org/a.request", "/rpc/echo/bob@example.org/b.request", "/rpc/echo/bob@example.org/c.request"
	for _, step := range []struct {
		name       string
		abs        string
		held, ok   bool
		submitFile string
	}{
		{"nothing held", a, false, true, "a"},
		{"a held", a, true, false, ""},
		{"room for one more", b, false, true, "b"},
		{"full", c, false, false, ""},
	} {
		held, ok, _ := r.d.admitFile(step.abs, 0)
		if held != step.held || ok != step.ok {
			t.Fatalf("%s: admitFile = %v, %v; want %v, %v", step.name, held, ok, step.held, step.ok)
		}
		if held != r.d.holds(step.abs) || (!held && ok != r.d.admit()) {
			t.Fatalf("%s: admitFile disagrees with holds and admit", step.name)
		}
		if step.submitFile != "" {
			r.submit(step.submitFile, step.submitFile, "/echo", time.Hour)
		}
	}
	// A file admitted before the bound was reached (another shard's
	// submit came first) is turned away when it is submitted.
	r.submit("c", "c", "/echo", time.Hour)
	if r.d.holds(c) {
		t.Fatal("submit held a request past MaxPending")
	}
}

// admitFile's unsure: a listing that showed no response beside a request
// is trusted unless the dispatcher let that request go after the listing
// began; what it let go is forgotten, one shard of the held files at a
// time, at maxReleased/heldShards or after releaseWindow, and every
// listing begun before that is then unsure about that shard's files.
func TestDispatcherReleasedSince(t *testing.T) {
	r := newRig(t, nil)
	var listings uint64
	r.d.listings = func() uint64 { return listings }
	h, _ := r.connect(10, "/echo")
	const a, b = "/rpc/echo/bob@example.org/a.request", "/rpc/echo/bob@example.org/b.request"
	unsure := func(abs string, listing uint64) bool {
		t.Helper()
		_, _, u := r.d.admitFile(abs, listing)
		return u
	}
	answer := func(file string) {
		t.Helper()
		r.answers = nil
		r.submit(file, file, "/echo", time.Hour)
		r.reply(h, file, 1, 200)
		r.writeAll()
	}
	// notes are the releases noted in a's shard.
	notes := &r.d.files.shards[maphash.String(r.d.files.seed, a)%heldShards].released
	if !unsure(a, 0) {
		t.Fatal("an event from no listing is sure")
	}
	// Released before any listing began: nothing to note.
	answer("a")
	if unsure(a, 1) || len(notes.at) != 0 {
		t.Fatal("a release before the listing began makes the listing unsure")
	}
	listings = 1 // listing 1 begins
	answer("a")  // and a is let go again after it began
	if !unsure(a, 1) {
		t.Fatal("listing 1 is trusted about a, let go after it began")
	}
	if unsure(b, 1) || unsure(a, 2) {
		t.Fatal("unsure about b, never let go, or about a for a listing begun after its release")
	}
	r.submit("b", "b", "/echo", time.Hour)
	if held, _, u := r.d.admitFile(b, 1); !held || !u {
		t.Fatalf("held b: admitFile held %v, unsure %v", held, u)
	}
	r.reply(h, "b", 1, 200)
	r.writeAll()
	// The window passes: the next release in the shard forgets the others
	// there, and every listing begun by then is unsure about its files.
	r.clock.now = r.clock.now.Add(releaseWindow)
	listings = 2
	answer("a")
	if len(notes.at) != 0 || notes.from != 2 {
		t.Fatalf("after the window: %d noted, from %d; want 0 from 2", len(notes.at), notes.from)
	}
	if !unsure(a, 2) || unsure(a, 3) {
		t.Fatal("after the window: listing 2 trusted, or listing 3 not")
	}
	answer("a") // listing count 2 is not above from: not noted
	if len(notes.at) != 0 {
		t.Fatal("a release noted that no trusted listing can need")
	}
	// Full: the release that finds maxReleased/heldShards noted forgets
	// them, inside the window.
	listings = 3
	for i := range uint64(maxReleased / heldShards) {
		notes.at[i] = 3
	}
	notes.since = r.clock.now
	answer("a")
	if len(notes.at) != 0 || notes.from != 3 {
		t.Fatalf("when full: %d noted, from %d; want 0 from 3", len(notes.at), notes.from)
	}
}

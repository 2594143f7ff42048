package bridge

import (
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
// began; what it let go is forgotten at maxReleased or after releaseWindow,
// and every listing begun before that is then unsure.
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
	if !unsure(a, 0) {
		t.Fatal("an event from no listing is sure")
	}
	// Released before any listing began: nothing to note.
	answer("a")
	if unsure(a, 1) || len(r.d.released.at) != 0 {
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
	// The window passes: the next release forgets the others, and every
	// listing begun by then is unsure.
	r.clock.now = r.clock.now.Add(releaseWindow)
	listings = 2
	r.reply(h, "b", 1, 200)
	r.writeAll()
	if len(r.d.released.at) != 0 || r.d.released.from != 2 {
		t.Fatalf("after the window: %d noted, from %d; want 0 from 2", len(r.d.released.at), r.d.released.from)
	}
	if !unsure(b, 2) || unsure(b, 3) {
		t.Fatal("after the window: listing 2 trusted, or listing 3 not")
	}
	answer("a") // listing count 2 is not above from: not noted
	if len(r.d.released.at) != 0 {
		t.Fatal("a release noted that no trusted listing can need")
	}
	// Full: the release that finds maxReleased noted forgets them.
	listings = 3
	for i := range uint64(maxReleased) {
		r.d.released.at[i] = 3
	}
	answer("a")
	if len(r.d.released.at) != 0 || r.d.released.from != 3 {
		t.Fatalf("when full: %d noted, from %d; want 0 from 3", len(r.d.released.at), r.d.released.from)
	}
}

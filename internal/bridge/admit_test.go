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
		held, ok := r.d.admitFile(step.abs)
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

package safefs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// mustCreateWithWriteEvent has create write want to name in dir, and checks
// what the SyftBox client needs to send a response at once: a write event
// (IN_MODIFY, fsnotify's Write) for the file's own name after it appears,
// with its bytes as written.
func mustCreateWithWriteEvent(t *testing.T, dir, name string, want []byte, create func() error) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, name)
	appeared, wrote := false, false
	deadline := time.After(10 * time.Second)
	for !wrote {
		select {
		case ev := <-w.Events:
			if ev.Name != target {
				continue
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) {
				appeared = true
			}
			if ev.Has(fsnotify.Write) {
				if !appeared {
					t.Fatalf("write event before the file appeared: %v", ev)
				}
				wrote = true
			}
		case err := <-w.Errors:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("no write event for %s (appeared: %v)", target, appeared)
		}
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != string(want) {
		t.Fatalf("content %q, %v; want %q", got, err, want)
	}
}

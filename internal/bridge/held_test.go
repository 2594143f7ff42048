package bridge

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Files held and released from many goroutines at once, as intake's shards
// and the writers do: each is held once, released once, and allWritten
// closes when the last response owed is written, not before.
func TestHeldFilesConcurrent(t *testing.T) {
	h := newHeldFiles()
	const workers, each = 8, 500
	owed := make(chan []string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var abs []string
			for i := range each {
				p := &pending{abs: fmt.Sprintf("/rpc/ep/s/%d-%d.request", w, i)}
				if !h.add(p) {
					t.Errorf("%s held before it was added", p.abs)
				}
				if h.add(&pending{abs: p.abs}) {
					t.Errorf("%s held twice", p.abs)
				}
				if held, _ := h.check(p.abs, 1); !held {
					t.Errorf("%s not held after it was added", p.abs)
				}
				p.state = stateAnswered
				h.owe()
				abs = append(abs, p.abs)
			}
			owed <- abs
		}()
	}
	wg.Wait()
	close(owed)
	done := h.allWritten()
	var last []string
	for abs := range owed {
		if last != nil {
			wg.Add(1)
			go func() { defer wg.Done(); h.release(nil, abs, 1, time.Now()) }()
		} else {
			last = abs
		}
	}
	wg.Wait()
	select {
	case <-done:
		t.Fatal("allWritten closed with responses still owed")
	default:
	}
	for _, a := range last {
		if n := len(h.release(nil, []string{a, a}, 1, time.Now())); n != 0 {
			t.Fatalf("release returned %d parsed requests of placeholders", n)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("allWritten not closed once every response was written")
	}
	for w := range workers {
		for i := range each {
			abs := fmt.Sprintf("/rpc/ep/s/%d-%d.request", w, i)
			if held, unsure := h.check(abs, 1); held || !unsure {
				t.Fatalf("%s: held %v, unsure %v after its release at listing 1", abs, held, unsure)
			}
		}
	}
	if n := h.unwritten.Load(); n != 0 {
		t.Fatalf("%d responses still owed", n)
	}
}

// A request answered is released once; one not answered, or gone, is not.
func TestHeldFilesReleaseOnlyAnswered(t *testing.T) {
	h := newHeldFiles()
	waiting := &pending{abs: "/a.request", state: stateWaiting}
	h.add(waiting)
	if !h.reserve("/b.request") || h.reserve("/b.request") {
		t.Fatal("reserve: want the first to hold /b.request and the second refused")
	}
	h.release(nil, []string{"/a.request", "/b.request", "/c.request"}, 0, time.Now())
	if !h.holds("/a.request") || h.holds("/b.request") {
		t.Fatal("want /a.request (not answered) held and /b.request released")
	}
	h.drop(&pending{abs: "/a.request"})
	if !h.holds("/a.request") {
		t.Fatal("drop let go a request that was not the one held")
	}
	h.drop(waiting)
	if h.holds("/a.request") {
		t.Fatal("drop kept the request held")
	}
	select {
	case <-h.allWritten():
	default:
		t.Fatal("allWritten open with nothing owed")
	}
}

package bridge

import (
	"testing"
	"time"
)

func TestStall(t *testing.T) {
	var s stall
	now := time.Now()
	if d := s.busy(now.Add(time.Hour)); d != 0 {
		t.Fatalf("idle: busy %s, want 0", d)
	}
	s.begin()
	if d := s.busy(time.Now().Add(time.Minute)); d < time.Minute || d > time.Minute+time.Second {
		t.Fatalf("a minute into an item: busy %s", d)
	}
	s.end()
	if d := s.busy(time.Now().Add(time.Hour)); d != 0 {
		t.Fatalf("after end: busy %s, want 0", d)
	}
}

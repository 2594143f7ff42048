package batch

import (
	"strings"
	"testing"
)

// Gather stops at the limit, at the byte budget and at the first message
// take refuses, and hands that one back so nothing is reordered or lost.
func TestGather(t *testing.T) {
	ch := make(chan string, 16)
	for _, m := range []string{"a", "b", "c", "d", "!stop", "e", strings.Repeat("B", 10), "f"} {
		ch <- m
	}
	take := func(m string) (string, bool) { return m, !strings.HasPrefix(m, "!") }
	size := func(m string) int { return len(m) }
	var sent []string
	next := ""
	for len(ch) > 0 || next != "" {
		m := next
		if m == "" {
			m = <-ch
		}
		next = ""
		if _, ok := take(m); !ok {
			sent = append(sent, m)
			continue
		}
		var items []string
		items, next = Gather(ch, m, take, size, 3, 10)
		sent = append(sent, "["+strings.Join(items, " ")+"]")
	}
	want := "[a b c] [d] !stop [e] [BBBBBBBBBB] [f]"
	if got := strings.Join(sent, " "); got != want {
		t.Fatalf("sent %s, want %s", got, want)
	}
}

// Nothing waiting: the batch is the first item alone, at once.
func TestGatherEmpty(t *testing.T) {
	items, next := Gather(make(chan int), 7, func(m int) (int, bool) { return m, true }, func(int) int { return 1 }, 10, 10)
	if len(items) != 1 || items[0] != 7 || next != 0 {
		t.Fatalf("Gather on an empty channel = %v, %v", items, next)
	}
}

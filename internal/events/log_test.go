package events_test

import (
	"testing"

	"github.com/openmined/syft-sidecar/internal/events"
)

func seqs(evs []events.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func TestLogResume(t *testing.T) {
	l := events.NewLog(3)
	for i := 0; i < 5; i++ {
		if ev := l.Append(events.Event{Kind: events.Create, Path: "a"}); ev.Seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", ev.Seq, i+1)
		}
	}
	// Held: 3, 4, 5.
	for _, tc := range []struct {
		run  string
		seq  uint64
		want []uint64
		gap  *events.Gap
	}{
		{l.Run(), 4, []uint64{5}, nil},
		{l.Run(), 2, []uint64{3, 4, 5}, nil},
		{l.Run(), 5, nil, nil},
		{l.Run(), 0, []uint64{3, 4, 5}, &events.Gap{From: 1, To: 2}},
		{l.Run(), 1, []uint64{3, 4, 5}, &events.Gap{From: 2, To: 2}},
		{"another-run", 4, []uint64{3, 4, 5}, &events.Gap{Restarted: true}},
		{"", 0, nil, nil},
	} {
		got, gap := l.Since(tc.run, tc.seq)
		if len(got) != len(tc.want) || (len(got) > 0 && seqs(got)[0] != tc.want[0]) {
			t.Errorf("Since(%q, %d) = %v, want %v", tc.run, tc.seq, seqs(got), tc.want)
		}
		if (gap == nil) != (tc.gap == nil) || (gap != nil && *gap != *tc.gap) {
			t.Errorf("Since(%q, %d) gap = %+v, want %+v", tc.run, tc.seq, gap, tc.gap)
		}
	}
	if events.NewLog(3).Run() == l.Run() {
		t.Fatal("two logs share a run id")
	}
}

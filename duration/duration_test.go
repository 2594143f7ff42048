package duration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/duration"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30d", 30 * 24 * time.Hour},
		{"1h", time.Hour},
		{"30m", 30 * time.Minute},
		{"45s", 45 * time.Second},
		{"1d2h30m", 26*time.Hour + 30*time.Minute},
		{"2h15m30s", 2*time.Hour + 15*time.Minute + 30*time.Second},
		{"1D", 24 * time.Hour},
		{" 7d ", 7 * 24 * time.Hour},
	} {
		got, err := duration.Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, err := duration.Parse(duration.Format(got)); err != nil || back != got {
			t.Errorf("Format(%v) = %q does not parse back", got, duration.Format(got))
		}
	}
	// What syft-event silently misreads is an error here.
	for _, in := range []string{"", "1.5h", "-1d", "1h30", "1w", "0d", "0s", "h", "1m1h", "1d1d", "30 d", "99999999999999999999d"} {
		if d, err := duration.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, d)
		} else if !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("Parse(%q): error %q does not say what is wrong", in, err)
		}
	}
}

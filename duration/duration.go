// Package duration reads and writes syft-event's durations ("30d", "1h",
// "1d2h30m"). It is apart from cleanup, which uses it, so that the Go client
// can check a duration without the sidecar's file code.
package duration

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	// durationRe is syft-event's grammar made strict: whole numbers with the
	// units d, h, m, s, each at most once and in that order. syft-event
	// searches for number-unit pairs anywhere, so it reads "1.5h" as 5
	// hours, "-1d" as a day and "1h30" as an hour; these are errors here.
	durationRe = regexp.MustCompile(`^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$`)
	units      = []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
)

// Parse reads "30d", "1h", "1d2h30m", "45s" (case-insensitive).
func Parse(s string) (time.Duration, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	m := durationRe.FindStringSubmatch(v)
	if v == "" || m == nil {
		return 0, fmt.Errorf("invalid duration %q: use whole numbers of d, h, m and s in that order, such as 30d, 1h or 1d2h30m", s)
	}
	var total time.Duration
	for i, part := range m[1:] {
		if part == "" {
			continue
		}
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || n > int64((1<<63-1)/units[i]) {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		total += time.Duration(n) * units[i]
		if total < 0 {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
	}
	if total <= 0 {
		return 0, fmt.Errorf("invalid duration %q: must be more than zero", s)
	}
	return total, nil
}

// Format writes d in the same grammar, largest units first.
func Format(d time.Duration) string {
	var b strings.Builder
	for i, u := range units {
		if n := d / u; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteByte("dhms"[i])
			d -= n * u
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

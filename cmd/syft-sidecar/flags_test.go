package main

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README's table of flags is the one users read: it names every flag
// the binary takes, no other, and the same defaults.
func TestREADMEFlags(t *testing.T) {
	help := helpDefaults(t)
	readme := readmeFlags(t)
	for name, def := range help {
		if name == "settle" {
			continue // deprecated; the README names it under --event-settle
		}
		rd, ok := readme[name]
		if !ok {
			t.Errorf("--%s is not in the README's table of flags", name)
			continue
		}
		if rd != "" && def != "" && !sameDefault(rd, def) {
			t.Errorf("--%s: the README says the default is %q, --help %q", name, rd, def)
		}
	}
	for name := range readme {
		if _, ok := help[name]; !ok {
			t.Errorf("the README's table names --%s, which the binary does not take", name)
		}
	}
}

// helpDefaults reads --help: each flag and the default it states ("" when
// none).
func helpDefaults(t *testing.T) map[string]string {
	t.Helper()
	var out strings.Builder
	if _, err := parseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	flags := map[string]string{}
	name := regexp.MustCompile(`^  -([a-z-]+)`)
	def := regexp.MustCompile(`\(default "?([^")]*(?:\)[^")]*)?)"?\)$`)
	var last string
	for _, line := range strings.Split(out.String(), "\n") {
		if m := name.FindStringSubmatch(line); m != nil {
			last = m[1]
			flags[last] = ""
		} else if m := def.FindStringSubmatch(line); m != nil && last != "" {
			flags[last] = m[1]
		}
	}
	if len(flags) < 20 {
		t.Fatalf("read %d flags from --help:\n%s", len(flags), out.String())
	}
	return flags
}

// readmeFlags reads the README's table under "### Flags": each flag and
// its default as written in code quotes ("" when the cell has none).
func readmeFlags(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags := map[string]string{}
	quoted := regexp.MustCompile("`([^`]*)`")
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "### Flags":
			in = true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "#"):
			in = false
			continue
		case !strings.HasPrefix(line, "| `--"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("README flag row with fewer than three cells: %s", line)
		}
		var defaults []string
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) {
			defaults = append(defaults, m[1])
		}
		for i, m := range quoted.FindAllStringSubmatch(cells[0], -1) {
			name := strings.TrimPrefix(m[1], "--")
			flags[name] = ""
			if i < len(defaults) {
				flags[name] = defaults[i]
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(flags) < 20 {
		t.Fatalf("read %d flags from the README's table", len(flags))
	}
	return flags
}

// sameDefault says whether two ways of writing a default agree: 60s is
// 1m0s.
func sameDefault(a, b string) bool {
	if a == b {
		return true
	}
	da, errA := time.ParseDuration(a)
	db, errB := time.ParseDuration(b)
	return errA == nil && errB == nil && da == db
}

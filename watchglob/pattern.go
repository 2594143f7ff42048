// Package watchglob compiles the globs of syft-event's watch(): doublestar
// patterns over the datasites folder with the placeholders {datasite},
// {email} and {app_data}. It matches paths against them and finds the folders
// a set of them needs watched. The sidecar and its Go client share it, so a
// glob the client accepts is one the sidecar accepts.
package watchglob

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Vars are the values of syft-event's placeholders.
type Vars struct {
	Email string // {email} and {datasite}: the datasite owner
	App   string // the registering app, for {app_data}
}

// Pattern is a compiled watch glob, relative to the datasites folder.
type Pattern struct {
	Raw  string // as the handler sent it
	Glob string // placeholders resolved, anchored at the datasites folder
	// Base is the pattern's static prefix: the smallest folder (relative to
	// the datasites folder, "." for all of it) that holds every match, and
	// so the tree to watch.
	Base string
}

// Compile resolves placeholders and validates the glob (doublestar
// syntax), relative to the datasites folder.
func Compile(raw string, v Vars) (Pattern, error) {
	if strings.TrimSpace(raw) == "" {
		return Pattern{}, errors.New("empty pattern")
	}
	g := raw
	appData := ""
	if v.Email != "" && v.App != "" {
		appData = path.Join(v.Email, "app_data", v.App)
	}
	for _, r := range []struct{ name, value string }{
		{"{email}", v.Email}, {"{datasite}", v.Email}, {"{app_data}", appData},
	} {
		if strings.Contains(g, r.name) && r.value == "" {
			return Pattern{}, fmt.Errorf("pattern %q: %s has no value here", raw, r.name)
		}
		g = strings.ReplaceAll(g, r.name, r.value)
	}
	g = strings.TrimPrefix(g, "/")
	if strings.Contains(g, "\\") {
		return Pattern{}, fmt.Errorf("pattern %q: use / between folders", raw)
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == ".." || seg == "." {
			return Pattern{}, fmt.Errorf("pattern %q: %q segments are not allowed", raw, seg)
		}
	}
	if !doublestar.ValidatePattern(g) {
		return Pattern{}, fmt.Errorf("pattern %q: not a valid glob", raw)
	}
	// syft-event prefixes "**/" to a pattern that lacks it. A pattern that
	// starts with a datasite ("{datasite}/...", "alice@x.org/...") names a
	// folder that only exists at the top, so it is anchored there, which
	// matches the same files and lets only that datasite be watched; any
	// other pattern matches at any depth, as in syft-event.
	first, _, _ := strings.Cut(g, "/")
	if !strings.HasPrefix(g, "**/") && g != "**" && !isEmail(first) {
		g = "**/" + g
	}
	base, _ := doublestar.SplitPattern(g)
	if base == "" {
		base = "."
	}
	return Pattern{Raw: raw, Glob: g, Base: base}, nil
}

// Match says whether rel (slash-separated, relative to the datasites
// folder) matches.
func (p Pattern) Match(rel string) bool {
	return doublestar.MatchUnvalidated(p.Glob, rel)
}

// Roots returns the smallest set of folders that cover every pattern's
// Base: a folder inside another is dropped, as the outer watch sees it.
func Roots(ps []Pattern) []string {
	var roots []string
	for _, p := range ps {
		roots = append(roots, p.Base)
	}
	var out []string
next:
	for i, r := range roots {
		for j, o := range roots {
			if i != j && covers(o, r) && (o != r || j < i) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// covers says whether the tree at outer holds inner.
func covers(outer, inner string) bool {
	return outer == "." || outer == inner || strings.HasPrefix(inner, outer+"/")
}

// isEmail says whether a path segment is a datasite's name.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && strings.Contains(s[at:], ".") && !strings.ContainsAny(s, "*?[{")
}

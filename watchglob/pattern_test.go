package watchglob_test

import (
	"reflect"
	"testing"

	"github.com/openmined/syft-sidecar/watchglob"
)

var vars = watchglob.Vars{Email: "bob@example.com", App: "myapp"}

func TestCompileAndMatch(t *testing.T) {
	for _, tc := range []struct {
		raw, base string
		match     []string
		no        []string
	}{
		{"**/*.json", ".", []string{"a.json", "bob@example.com/x/y.json"}, []string{"a.csv"}},
		{"{datasite}/**/*.csv", "bob@example.com", []string{"bob@example.com/a.csv", "bob@example.com/x/y/z.csv"}, []string{"alice@example.com/a.csv", "x/bob@example.com/a.csv"}},
		{"{email}/public/*.txt", "bob@example.com/public", []string{"bob@example.com/public/a.txt"}, []string{"bob@example.com/public/x/a.txt"}},
		{"{app_data}/**", "bob@example.com/app_data/myapp", []string{"bob@example.com/app_data/myapp/state.db"}, []string{"bob@example.com/app_data/other/x"}},
		{"alice@example.com/*.json", "alice@example.com", []string{"alice@example.com/a.json"}, []string{"bob@example.com/a.json"}},
		{"/{datasite}/*.md", "bob@example.com", []string{"bob@example.com/README.md"}, nil},
		// Not starting with a datasite: at any depth, as syft-event's "**/" prefix.
		{"*.json", ".", []string{"a.json", "bob@example.com/x/a.json"}, []string{"a.csv"}},
		{"public/*.txt", ".", []string{"bob@example.com/public/a.txt", "public/a.txt"}, []string{"bob@example.com/public/x/a.txt"}},
	} {
		p, err := watchglob.Compile(tc.raw, vars)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.raw, err)
		}
		if p.Base != tc.base {
			t.Errorf("Compile(%q).Base = %q, want %q", tc.raw, p.Base, tc.base)
		}
		for _, m := range tc.match {
			if !p.Match(m) {
				t.Errorf("%q should match %q", tc.raw, m)
			}
		}
		for _, m := range tc.no {
			if p.Match(m) {
				t.Errorf("%q should not match %q", tc.raw, m)
			}
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, raw := range []string{"", "  ", "../*.json", "bob/../x", "a\\b", "[", "{app_data}/x"} {
		v := vars
		if raw == "{app_data}/x" {
			v.Email = "" // no owner: placeholders have no value
		}
		if _, err := watchglob.Compile(raw, v); err == nil {
			t.Errorf("Compile(%q) accepted", raw)
		}
	}
}

func TestRoots(t *testing.T) {
	compile := func(raws ...string) []watchglob.Pattern {
		var ps []watchglob.Pattern
		for _, r := range raws {
			p, err := watchglob.Compile(r, vars)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	for _, tc := range []struct {
		raws []string
		want []string
	}{
		{[]string{"{datasite}/a/*.csv", "{datasite}/**/*.json"}, []string{"bob@example.com"}},
		{[]string{"alice@example.com/*.x", "{datasite}/*.x"}, []string{"alice@example.com", "bob@example.com"}},
		{[]string{"{datasite}/*.x", "**/*.y"}, []string{"."}},
		{[]string{"{datasite}/*.x", "{datasite}/*.y"}, []string{"bob@example.com"}},
	} {
		if got := watchglob.Roots(compile(tc.raws...)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Roots(%v) = %v, want %v", tc.raws, got, tc.want)
		}
	}
}

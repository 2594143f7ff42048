package rpcpath

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseRequestPath checks that ParseRequestPath never panics and that
// what it accepts stays inside the rules: a canonical endpoint, an id with
// no folder in it, a sender folder that is one name holding '@'.
func FuzzParseRequestPath(f *testing.F) {
	for _, s := range []string{
		"echo/alice@example.com/0b7e6f7c-2f0e-4a55-9d1e-6c1f3f1b9a10.request",
		"api/v1/echo/x.request", "alice@example.com/x.request", "../x.request",
		"a/./b/x.request", "a//x.request", "a/.hidden@x/x.request", "a/b@c\\d/x.request",
		"a/x.syft.tmp.1.request", "x.request", "a/.request",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		rp, ok := ParseRequestPath(rel)
		if !ok {
			return
		}
		if rp.ID == "" || strings.Contains(rp.ID, "/") {
			t.Fatalf("%q: id %q", rel, rp.ID)
		}
		if rp.Sender != "" && (!strings.Contains(rp.Sender, "@") || strings.ContainsAny(rp.Sender, "/\\")) {
			t.Fatalf("%q: sender folder %q", rel, rp.Sender)
		}
		if ep, err := CleanEndpoint(rp.Endpoint); err != nil || ep != rp.Endpoint || slices.Contains(strings.Split(ep, "/"), "..") {
			t.Fatalf("%q: endpoint %q is not canonical (%q, %v)", rel, rp.Endpoint, ep, err)
		}
	})
}

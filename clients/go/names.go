package sidecar

import (
	"fmt"
	"strings"
)

// validApp reports whether app can name a folder app_data/{app}: the same
// rule the sidecar applies, checked here so that a typo fails at Handle
// instead of as an InvalidArgument from the sidecar at Run.
func validApp(app string) error {
	if app == "" {
		return fmt.Errorf("invalid app name: empty")
	}
	if app[0] == '.' || !nameChars(app) {
		return fmt.Errorf("invalid app name %q: use letters, digits, '.', '_' and '-', not starting with '.'", app)
	}
	return nil
}

// validEndpoint accepts "/a" and "/a/b/c": a path below the app's rpc folder,
// each part a plain folder name. No wildcards, no "." or "..", no hidden
// folders, no trailing slash (the sidecar names endpoints in this canonical
// form in each request), and no '@', which marks a sender folder beside the
// endpoint folders. The sidecar checks more (names SyftBox does not sync)
// and refuses the registration if one fails.
func validEndpoint(ep string) error {
	if !strings.HasPrefix(ep, "/") || ep == "/" {
		return fmt.Errorf("invalid endpoint %q: want a path such as /echo or /api/v1/users", ep)
	}
	for _, part := range strings.Split(ep[1:], "/") {
		if part == "" || part[0] == '.' || !nameChars(part) {
			return fmt.Errorf("invalid endpoint %q: each part must be letters, digits, '.', '_' and '-', not starting with '.'", ep)
		}
	}
	return nil
}

func nameChars(s string) bool {
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

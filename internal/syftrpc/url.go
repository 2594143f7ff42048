package syftrpc

import (
	"errors"
	"fmt"
	"strings"
)

// Validation errors wrap one of these.
var (
	ErrInvalidURL      = errors.New("invalid syft url")
	ErrInvalidEndpoint = errors.New("invalid endpoint")
	ErrInvalidAppName  = errors.New("invalid app name")
)

// MaxAppNameLen bounds an app name, which becomes a folder name.
const MaxAppNameLen = 128

// URL is an RPC address, syft://{owner}/app_data/{app}/rpc/{endpoint}[?query].
type URL struct {
	Owner    string // the datasite's email, as written
	App      string
	Endpoint string // canonical, as CleanEndpoint returns: "/echo", "/api/v1/users"
	Query    string // without the '?'; syft-rpc gives it no meaning
}

// ParseURL splits an RPC URL into its parts. The owner must be an email as
// syft-core's SyftBoxURL defines it, the app a valid app name and the
// endpoint a valid endpoint (see CleanEndpoint; leading and trailing slashes
// are dropped, as syft-event does). Fragments are refused: a folder name
// cannot hold one and urlparse would silently drop it.
func ParseURL(s string) (URL, error) {
	bad := func(format string, args ...any) (URL, error) {
		return URL{}, fmt.Errorf("%w %s: %s", ErrInvalidURL, Quote(s), fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(s, "syft://")
	if !ok {
		return bad("want the syft:// scheme")
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x20 || c == 0x7f {
			return bad("control character")
		}
	}
	if strings.IndexByte(rest, '#') >= 0 {
		return bad("has a fragment")
	}
	rest, query, _ := strings.Cut(rest, "?")
	owner, path, _ := strings.Cut(rest, "/")
	if !IsEmail(owner) {
		return bad("host %q is not an email", owner)
	}
	seg, path, _ := strings.Cut(path, "/")
	if seg != "app_data" {
		return bad("want the path /app_data/{app}/rpc/{endpoint}")
	}
	app, path, _ := strings.Cut(path, "/")
	if err := ValidateAppName(app); err != nil {
		return bad("%v", err)
	}
	seg, path, _ = strings.Cut(path, "/")
	if seg != "rpc" {
		return bad("want the path /app_data/{app}/rpc/{endpoint}")
	}
	endpoint, err := CleanEndpoint(path)
	if err != nil {
		return bad("%v", err)
	}
	return URL{Owner: owner, App: app, Endpoint: endpoint, Query: query}, nil
}

// String formats u as syft-rpc's make_url does, with the query if any.
func (u URL) String() string {
	s := "syft://" + u.Owner + "/app_data/" + u.App + "/rpc" + u.Endpoint
	if u.Query != "" {
		s += "?" + u.Query
	}
	return s
}

// IsEmail reports whether s matches the email pattern syft-core uses for
// datasites and URL hosts, [a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+ ,
// as a whole.
func IsEmail(s string) bool { return isEmail(s) }

func isEmail[T string | []byte](s T) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			at = i
			break
		}
		if !isLocalChar(s[i]) {
			return false
		}
	}
	if at <= 0 {
		return false
	}
	// The first label runs to the first '.', the rest may hold dots.
	dot := -1
	for i := at + 1; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if dot < 0 {
				if i == at+1 {
					return false
				}
				dot = i
			}
			continue
		}
		if !isLabelChar(c) {
			return false
		}
	}
	return dot > 0 && dot < len(s)-1
}

func isLocalChar(c byte) bool {
	return isLabelChar(c) || c == '_' || c == '.' || c == '+'
}

func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '-'
}

// SameEmail reports whether a and b name the same datasite: emails compare
// case-insensitively.
func SameEmail(a, b string) bool { return strings.EqualFold(a, b) }

// ValidateAppName checks that s can be an app's folder under app_data: ASCII
// letters, digits, '.', '_' and '-', at most MaxAppNameLen bytes, not hidden
// (which also rules out "." and ".."), and not a name the SyftBox client
// refuses to sync.
func ValidateAppName(s string) error {
	bad := func(reason string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidAppName, s, reason)
	}
	switch {
	case s == "":
		return bad("empty")
	case len(s) > MaxAppNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxAppNameLen))
	case s == "." || s == "..":
		return bad("not a folder name")
	case s[0] == '.':
		return bad("hidden name")
	}
	for _, r := range s {
		if r >= 0x80 || !isLabelChar(byte(r)) && r != '.' && r != '_' {
			return bad(fmt.Sprintf("character %q not allowed (want letters, digits, '.', '_', '-')", r))
		}
	}
	if Ignored(s) || unsynced(s) {
		return bad("the SyftBox client does not sync a folder of that name")
	}
	return nil
}

// CleanEndpoint returns the canonical form of an endpoint, "/a/b": one
// leading slash, none trailing ("echo", "/echo/" and "echo" all give
// "/echo", as syft-event strips them). Each segment becomes a folder under
// rpc/, so it refuses what would escape the folder or confuse the path
// rules: empty, "." and ".." segments, backslashes, control characters,
// wildcards (* ? [, as syft-event does), '@' (a sender folder contains one),
// hidden names, names the SyftBox client ignores or does not sync, names of
// the rpc folder's own files, and names ending in .request or .response.
func CleanEndpoint(s string) (string, error) {
	trimmed := strings.Trim(s, "/")
	if trimmed == "" {
		return "", fmt.Errorf("%w %q: empty", ErrInvalidEndpoint, s)
	}
	for seg := range strings.SplitSeq(trimmed, "/") {
		if reason := badSegment(seg); reason != "" {
			return "", fmt.Errorf("%w %q: %s", ErrInvalidEndpoint, s, reason)
		}
	}
	if len(s) == len(trimmed)+1 && s[0] == '/' {
		return s, nil
	}
	return "/" + trimmed, nil
}

// maxSegmentLen is the usual file system limit on a name (NAME_MAX).
const maxSegmentLen = 255

func badSegment(seg string) string {
	switch {
	case seg == "":
		return "empty segment"
	case seg == "." || seg == "..":
		return fmt.Sprintf("%q segment", seg)
	case seg[0] == '.':
		return fmt.Sprintf("hidden segment %q", seg)
	case len(seg) > maxSegmentLen:
		return fmt.Sprintf("segment longer than %d bytes", maxSegmentLen)
	}
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c == '\\':
			return "backslash"
		case c == '*' || c == '?' || c == '[':
			return "wildcards are not allowed"
		case c == '@':
			return fmt.Sprintf("segment %q contains '@', which marks a sender folder", seg)
		case c < 0x20 || c == 0x7f:
			return "control character"
		}
	}
	switch {
	case seg == PermissionFile || seg == LegacyPermissionFile || seg == SchemaFile:
		return fmt.Sprintf("%q is a reserved file name", seg)
	case strings.HasSuffix(seg, RequestExt) || strings.HasSuffix(seg, ResponseExt):
		return fmt.Sprintf("segment %q looks like a request or response file", seg)
	case Ignored(seg) || unsynced(seg):
		return fmt.Sprintf("the SyftBox client does not sync a folder named %q", seg)
	}
	return ""
}

package rpcpath

import (
	"errors"
	"fmt"
	"strings"
)

// Validation errors wrap one of these.
var (
	ErrInvalidEndpoint = errors.New("invalid endpoint")
	ErrInvalidAppName  = errors.New("invalid app name")
)

// MaxAppNameLen bounds an app name, which becomes a folder name.
const MaxAppNameLen = 128

// IsEmail reports whether s matches the email pattern syft-core uses for
// datasites and URL hosts, [a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+ ,
// as a whole. It takes bytes too, so a parser can check a value in place.
func IsEmail[T string | []byte](s T) bool {
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
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
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

package rpcpath

import (
	"errors"
	"strings"
	"testing"
)

func TestIsEmail(t *testing.T) {
	valid := []string{"a@b.co", "alice@example.com", "Alice.Smith+tag_1-x@sub-1.example.co.uk", "a@b.c", "a@b-c.d-e", "1@2.3", "a@b.."}
	invalid := []string{"", "a", "@b.com", "a@", "a@b", "a@.com", "a@b.", "a b@c.com", "a@b c.com", "a@b@c.com",
		"a@b_c.com", "é@b.com", "a@b.com/", "a@b.com\n", "a:b@c.com", "a@[1.2.3.4]"}
	for _, s := range valid {
		if !IsEmail(s) {
			t.Errorf("IsEmail(%q) = false", s)
		}
	}
	for _, s := range invalid {
		if IsEmail(s) {
			t.Errorf("IsEmail(%q) = true", s)
		}
	}
}

func TestSameEmail(t *testing.T) {
	if !SameEmail("Alice@Example.COM", "alice@example.com") || SameEmail("alice@example.com", "alice@example.org") {
		t.Error("SameEmail must compare emails case-insensitively")
	}
}

func TestValidateAppName(t *testing.T) {
	for _, s := range []string{"echo", "my-app", "my_app.v2", "A1", strings.Repeat("a", 128)} {
		if err := ValidateAppName(s); err != nil {
			t.Errorf("ValidateAppName(%q) = %v", s, err)
		}
	}
	tests := []struct{ in, want string }{
		{"", "empty"},
		{".", "not a folder name"},
		{"..", "not a folder name"},
		{".hidden", "hidden name"},
		{strings.Repeat("a", 129), "longer than 128 bytes"},
		{"a/b", `character '/' not allowed`},
		{`a\b`, `character '\\' not allowed`},
		{"a b", `character ' ' not allowed`},
		{"é", `character 'é' not allowed`},
		{"app.tmp", "does not sync"},
		{"logs", "does not sync"},
		{"x.conflict.1", "does not sync"},
	}
	for _, tt := range tests {
		err := ValidateAppName(tt.in)
		if err == nil || !errors.Is(err, ErrInvalidAppName) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateAppName(%q) = %v, want ErrInvalidAppName containing %q", tt.in, err, tt.want)
		}
	}
}

func TestCleanEndpoint(t *testing.T) {
	tests := map[string]string{
		"echo":             "/echo",
		"/echo":            "/echo",
		"/echo/":           "/echo",
		"//echo//":         "/echo",
		"api/v1/users":     "/api/v1/users",
		"/api/v1/users/":   "/api/v1/users",
		"user_code/create": "/user_code/create",
		"échο":             "/échο",
		"a.b-c_d":          "/a.b-c_d",
	}
	for in, want := range tests {
		got, err := CleanEndpoint(in)
		if err != nil || got != want {
			t.Errorf("CleanEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCleanEndpointRejects(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"/", "empty"},
		{"a//b", "empty segment"},
		{"a/../b", `".." segment`},
		{"..", `".." segment`},
		{"./a", `"." segment`},
		{"a/.hidden", `hidden segment ".hidden"`},
		{".syftkeep", "hidden segment"},
		{`a\b`, "backslash"},
		{"a*", "wildcards are not allowed"},
		{"a?b", "wildcards are not allowed"},
		{"[ab]", "wildcards are not allowed"},
		{"a/bob@example.com", "contains '@'"},
		{"a@b", "contains '@'"},
		{"a\x00b", "control character"},
		{"a\tb", "control character"},
		{strings.Repeat("a", 256), "segment longer than 255 bytes"},
		{"syft.pub.yaml", "reserved file name"},
		{"rpc.schema.json", "reserved file name"},
		{"a/syftperm.yaml", "reserved file name"},
		{"x.request", "looks like a request or response file"},
		{"a/x.response", "looks like a request or response file"},
		{"a.tmp", "does not sync"},
		{"a.tmp.b", "does not sync"},
		{"a.syft.tmp.123", "does not sync"},
		{"x.rejected.y", "does not sync"},
		{"my.conflict.z", "does not sync"},
		{"syftrejected", "does not sync"},
		{"a/syftconflict-b", "does not sync"},
		{"logs", "does not sync"},
		{"api/__pycache__", "does not sync"},
		{"dist", "does not sync"},
		{"debug.log", "does not sync"},
	}
	for _, tt := range tests {
		_, err := CleanEndpoint(tt.in)
		if err == nil || !errors.Is(err, ErrInvalidEndpoint) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CleanEndpoint(%q) = %v, want ErrInvalidEndpoint containing %q", tt.in, err, tt.want)
		}
	}
}

package syftrpc

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want URL
		str  string // String(), when it differs from in
	}{
		{in: "syft://bob@example.com/app_data/echo/rpc/echo", want: URL{"bob@example.com", "echo", "/echo", ""}},
		{in: "syft://Bob.Smith+x@sub.example.co.uk/app_data/my-app_1.0/rpc/api/v1/users?id=3&x=<y>",
			want: URL{"Bob.Smith+x@sub.example.co.uk", "my-app_1.0", "/api/v1/users", "id=3&x=<y>"}},
		{in: "syft://bob@example.com/app_data/echo/rpc/echo/", want: URL{"bob@example.com", "echo", "/echo", ""},
			str: "syft://bob@example.com/app_data/echo/rpc/echo"},
		{in: "syft://bob@example.com/app_data/echo/rpc//echo", want: URL{"bob@example.com", "echo", "/echo", ""},
			str: "syft://bob@example.com/app_data/echo/rpc/echo"},
		{in: "syft://bob@example.com/app_data/echo/rpc/échο", want: URL{"bob@example.com", "echo", "/échο", ""}},
		{in: "syft://bob@example.com/app_data/echo/rpc/echo?", want: URL{"bob@example.com", "echo", "/echo", ""},
			str: "syft://bob@example.com/app_data/echo/rpc/echo"},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		str := tt.str
		if str == "" {
			str = tt.in
		}
		if got.String() != str {
			t.Errorf("String() = %q, want %q", got.String(), str)
		}
	}
}

func TestParseURLRejects(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://bob@example.com/app_data/echo/rpc/echo", "want the syft:// scheme"},
		{"SYFT://bob@example.com/app_data/echo/rpc/echo", "want the syft:// scheme"},
		{"syft://bob/app_data/echo/rpc/echo", `host "bob" is not an email`},
		{"syft://bob@localhost/app_data/echo/rpc/echo", `host "bob@localhost" is not an email`},
		{"syft://bob@example.com", "want the path /app_data/{app}/rpc/{endpoint}"},
		{"syft://bob@example.com/public/echo/rpc/echo", "want the path /app_data/{app}/rpc/{endpoint}"},
		{"syft://bob@example.com/app_data/echo/api/echo", "want the path /app_data/{app}/rpc/{endpoint}"},
		{"syft://bob@example.com/app_data//rpc/echo", `invalid app name "": empty`},
		{"syft://bob@example.com/app_data/../rpc/echo", `invalid app name "..": not a folder name`},
		{"syft://bob@example.com/app_data/echo/rpc", `invalid endpoint "": empty`},
		{"syft://bob@example.com/app_data/echo/rpc/", `invalid endpoint "": empty`},
		{"syft://bob@example.com/app_data/echo/rpc/a/../b", `invalid endpoint "a/../b": ".." segment`},
		{"syft://bob@example.com/app_data/echo/rpc/a/./b", `invalid endpoint "a/./b": "." segment`},
		{"syft://bob@example.com/app_data/echo/rpc/a//b", `invalid endpoint "a//b": empty segment`},
		{`syft://bob@example.com/app_data/echo/rpc/a\b`, `invalid endpoint "a\\b": backslash`},
		{"syft://bob@example.com/app_data/echo/rpc/a#frag", "has a fragment"},
		{"syft://bob@example.com/app_data/echo/rpc/a\nb", "control character"},
		{"syft://bob@example.com/app_data/echo/rpc/alice@example.com", "contains '@'"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.in)
		if err == nil {
			t.Errorf("ParseURL(%q): no error, want %q", tt.in, tt.want)
			continue
		}
		if !errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) = %q, want ErrInvalidURL containing %q", tt.in, err, tt.want)
		}
	}
}

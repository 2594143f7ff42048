package jsonlex_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
)

// surrogateEscape finds \u escapes of UTF-16 surrogates, which the lexer
// takes only as valid pairs and encoding/json takes in any form.
var surrogateEscape = regexp.MustCompile(`(?i)\\ud[89a-f]`)

// FuzzSkip checks the lexer against encoding/json: what Skip reads as one
// whole value is valid JSON, and valid JSON is read whole unless it holds
// what the lexer refuses on purpose (invalid UTF-8, surrogate escapes that
// may be lone, nesting past MaxDepth).
func FuzzSkip(f *testing.F) {
	for _, s := range []string{
		`{"a": [1, -2.5e3, "x\n\u00e9", true, false, null, {}]}`, `"\ud83d\ude00"`, `"\ud800"`,
		`[1,]`, `{"a" 1}`, `01`, `-`, `1e+`, "\"\xff\"", ` [ [ ] ] `, `nul`, `"\/"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var l jsonlex.Lexer
		l.Reset(data)
		l.Space()
		err := l.Skip()
		l.Space()
		whole := err == nil && l.AtEnd()
		valid := json.Valid(data)
		if whole && !valid {
			t.Fatalf("lexer read %q whole; encoding/json says it is not JSON", data)
		}
		if valid && !whole && utf8.Valid(data) && !surrogateEscape.Match(data) && !deep(data) {
			t.Fatalf("lexer refused valid JSON %q: %v at %d", data, err, l.Offset())
		}
	})
}

// deep reports whether brackets outside strings may nest past MaxDepth.
func deep(data []byte) bool {
	depth, inString := 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			if depth++; depth > jsonlex.MaxDepth {
				return true
			}
		case !inString && (c == ']' || c == '}'):
			depth--
		}
	}
	return false
}

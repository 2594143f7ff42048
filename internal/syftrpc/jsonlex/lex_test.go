package jsonlex_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
)

func lexer(s string) *jsonlex.Lexer {
	var l jsonlex.Lexer
	l.Reset([]byte(s))
	return &l
}

func TestString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`""`, ""},
		{`"plain ascii, longer than a word"`, "plain ascii, longer than a word"},
		{`"caf\u00e9 \"q\" \\ \/ \b\f\n\r\t"`, "café \"q\" \\ / \b\f\n\r\t"},
		{`"\ud83d\ude00 é"`, "😀 é"},
	} {
		l := lexer(tt.in + ",")
		got, err := l.String()
		if err != nil || string(got) != tt.want || l.Peek() != ',' {
			t.Errorf("String(%s) = %q, %v, next %q; want %q", tt.in, got, err, l.Peek(), tt.want)
		}
	}
}

func TestStringRejects(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`"abc`, "unterminated string at offset 4"},
		{"\"a\x01\"", "control character in string at offset 2"},
		{"\"\xff\"", "invalid UTF-8 in string at offset 1"},
		{`"\x"`, "bad escape at offset 1"},
		{`"\u12g4"`, `bad \u escape at offset 1`},
		{`"\ud800"`, `lone surrogate in \u escape at offset 1`},
		{`"\udc00\ud800"`, `lone surrogate in \u escape at offset 1`},
	} {
		_, err := lexer(tt.in).String()
		var se *jsonlex.SyntaxError
		if !errors.As(err, &se) || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("String(%q) = %v, want a SyntaxError ending %q", tt.in, err, tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		in    string
		isInt bool
	}{{"0", true}, {"-12", true}, {"1.5", false}, {"1e9", false}, {"-0.5E-3", false}} {
		l := lexer(tt.in + "]")
		isInt, err := l.Number()
		if err != nil || isInt != tt.isInt || string(l.Since(0)) != tt.in {
			t.Errorf("Number(%s) = %v, %v, text %q", tt.in, isInt, err, l.Since(0))
		}
	}
	for _, in := range []string{"-", "1.", "1e", "1e+", "-x"} {
		if _, err := lexer(in).Number(); err == nil {
			t.Errorf("Number(%q) accepted", in)
		}
	}
}

func TestSkip(t *testing.T) {
	in := ` {"a": [1, -2.5e3, "x", true, false, null, {}], "b": {"c": []}} ,`
	l := lexer(in)
	l.Space()
	if err := l.Check(); err != nil || l.Offset() != 1 {
		t.Fatalf("Check = %v at %d, want nil at 1: it must not consume", err, l.Offset())
	}
	if err := l.Skip(); err != nil {
		t.Fatal(err)
	}
	l.Space()
	if !l.SkipPrefix(",") || !l.AtEnd() {
		t.Errorf("Skip stopped at %d", l.Offset())
	}
	l = lexer(`{"k" : "v", "n": 1}`)
	if l.Enter() {
		t.Fatal("Enter: object is not empty")
	}
	if k, err := l.Key(""); err != nil || string(k) != "k" || l.Peek() != '"' {
		t.Fatalf("Key = %q, %v, next %q", k, err, l.Peek())
	}
	if _, err := l.String(); err != nil {
		t.Fatal(err)
	}
	if more, err := l.Sep('}', ""); !more || err != nil {
		t.Fatalf("Sep after the first member = %v, %v", more, err)
	}
	if _, err := l.Key(` in "x"`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Number(); err != nil {
		t.Fatal(err)
	}
	if more, err := l.Sep('}', ""); more || err != nil || !l.AtEnd() {
		t.Fatalf("Sep at the end = %v, %v", more, err)
	}
	if _, err := lexer(`1`).Key(` in "x"`); err == nil || !strings.Contains(err.Error(), `expected a key in "x", found '1'`) {
		t.Errorf("Key before a number = %v", err)
	}
	if _, err := lexer(`"k" 1`).Key(""); err == nil || !strings.Contains(err.Error(), `expected ':' after key, found '1' at offset 4`) {
		t.Errorf("Key without ':' = %v", err)
	}
	if _, err := lexer(` x`).Sep(']', " after a value"); err == nil || !strings.Contains(err.Error(), `expected ',' or ']' after a value, found 'x' at offset 1`) {
		t.Errorf("Sep before x = %v", err)
	}
	for _, bad := range []string{`[1,]`, `{"a" 1}`, `{"a":1,}`, `[1 2]`, `tru`, `nul`, `{1:2}`, `]`, ``} {
		if err := lexer(bad).Skip(); err == nil {
			t.Errorf("Skip(%q) accepted", bad)
		}
	}
	deep := strings.Repeat("[", jsonlex.MaxDepth+2) + strings.Repeat("]", jsonlex.MaxDepth+2)
	if err := lexer(deep).Skip(); err == nil || !strings.Contains(err.Error(), "nested too deep") {
		t.Errorf("Skip of %d levels = %v", jsonlex.MaxDepth+2, err)
	}
}

func TestFound(t *testing.T) {
	if got := lexer("é").Found(); got != `'é'` {
		t.Errorf("Found = %s", got)
	}
	if got := lexer("").Found(); got != "end of input" {
		t.Errorf("Found at end = %s", got)
	}
}

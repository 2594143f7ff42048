// Package jsonlex reads JSON text a token at a time, for a reader that knows
// the shape it expects and wants neither reflection nor allocation. Strings
// come back as slices of the input, or of a scratch buffer when they hold
// escapes; values the reader has no use for are skipped with their syntax
// checked. It follows RFC 8259 strictly: UTF-8 only, no lone surrogates in
// \u escapes, no comments, no trailing commas, no NaN.
//
// What a value means, and which keys an object must hold, is the caller's:
// package syftrpc reads the syft-rpc message schema with it.
package jsonlex

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of the values Skip walks, so a hostile input
// cannot exhaust the stack.
const MaxDepth = 512

// SyntaxError is input that is not JSON.
type SyntaxError struct {
	Msg    string // what is wrong, such as "unterminated string"
	Offset int    // the byte offset in the input where it was found
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("not JSON: %s at offset %d", e.Msg, e.Offset)
}

// Lexer reads one input. Its zero value reads an empty input; Reset starts
// it on another and keeps its scratch buffer, so a pooled Lexer allocates
// nothing once warm.
type Lexer struct {
	data []byte
	pos  int
	// scratch holds an unescaped string until the next call to String.
	scratch []byte
}

// Reset starts l on data at offset 0.
func (l *Lexer) Reset(data []byte) {
	l.data, l.pos, l.scratch = data, 0, l.scratch[:0]
}

// ScratchCap is the capacity of the scratch buffer, for a pool that drops
// lexers a huge input left with a huge buffer.
func (l *Lexer) ScratchCap() int { return cap(l.scratch) }

// Offset is the position of the next byte to read.
func (l *Lexer) Offset() int { return l.pos }

// SkipPrefix consumes p if the input continues with it.
func (l *Lexer) SkipPrefix(p string) bool {
	if len(l.data)-l.pos >= len(p) && string(l.data[l.pos:l.pos+len(p)]) == p {
		l.pos += len(p)
		return true
	}
	return false
}

// AtEnd reports whether the input is used up.
func (l *Lexer) AtEnd() bool { return l.pos >= len(l.data) }

// Peek returns the next byte without consuming it, or 0 at the end.
func (l *Lexer) Peek() byte {
	if l.pos < len(l.data) {
		return l.data[l.pos]
	}
	return 0
}

// Space consumes JSON white space.
func (l *Lexer) Space() {
	for l.pos < len(l.data) {
		switch l.data[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

// Null consumes a null literal if one is next.
func (l *Lexer) Null() bool { return l.SkipPrefix("null") }

// String reads the string that starts at the next byte, which must be '"'.
// The result aliases the input when the string has no escapes, else the
// scratch buffer: either way it is valid only until the next call.
func (l *Lexer) String() ([]byte, error) {
	start := l.pos + 1
	i := start
	escaped, ascii := false, true
	data := l.data
	for {
		// Skip eight plain bytes at a time; stop at any byte worth a look.
		for i+8 <= len(data) && special(binary.LittleEndian.Uint64(data[i:])) == 0 {
			i += 8
		}
		if i >= len(data) {
			l.pos = i
			return nil, l.Syntax("unterminated string")
		}
		c := data[i]
		if c == '"' {
			break
		}
		switch {
		case c == '\\':
			escaped = true
			i += 2
			continue
		case c < 0x20:
			l.pos = i
			return nil, l.Syntax("control character in string")
		case c >= 0x80:
			ascii = false
		}
		i++
	}
	raw := l.data[start:i]
	l.pos = i + 1
	if !ascii && !utf8.Valid(raw) {
		l.pos = start
		return nil, l.Syntax("invalid UTF-8 in string")
	}
	if !escaped {
		return raw, nil
	}
	out, msg := unescape(l.scratch[:0], raw)
	if msg != "" {
		l.pos = start
		return nil, l.Syntax(msg)
	}
	l.scratch = out
	return out, nil
}

// special reports (as a non-zero value) whether any byte of the word x is
// one a string scan must look at: '"', '\\', a control character or a
// non-ASCII byte. These are the classic "has zero byte" and "has byte less
// than" bit tricks; they may flag a word wrongly as special, never wrongly
// as plain, and a flagged word is simply scanned byte by byte.
func special(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	quote := x ^ (ones * '"')
	slash := x ^ (ones * '\\')
	return (x-ones*0x20)&^x&highs | // a byte below 0x20
		(quote-ones)&^quote&highs | // a '"'
		(slash-ones)&^slash&highs | // a '\\'
		x&highs // a byte of 0x80 or more
}

// unescape decodes the escapes of a JSON string body. Lone surrogates are
// rejected, as pydantic does: they cannot be encoded in UTF-8.
func unescape(dst, raw []byte) ([]byte, string) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(raw) {
			return nil, "bad escape"
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return nil, "bad \\u escape"
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return nil, "lone surrogate in \\u escape"
				}
				r2, ok := hex4(raw[i+2:])
				if !ok {
					return nil, "bad \\u escape"
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return nil, "lone surrogate in \\u escape"
				}
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return nil, "bad escape"
		}
		i += 2
	}
	return dst, ""
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Skip consumes one value of any type, checking its syntax.
func (l *Lexer) Skip() error { return l.skip(0) }

// Check checks the syntax of the next value without consuming it.
func (l *Lexer) Check() error {
	save := l.pos
	err := l.skip(0)
	l.pos = save
	return err
}

// Enter consumes the '{' or '[' that the caller found next and the space
// after it, and reports whether the object or array is empty, in which case
// its closing bracket is consumed too.
func (l *Lexer) Enter() (empty bool) {
	end := byte('}')
	if l.Peek() == '[' {
		end = ']'
	}
	l.pos++
	l.Space()
	if l.Peek() == end {
		l.pos++
		return true
	}
	return false
}

// Key reads an object member's key and the ':' after it, leaving the lexer
// at the member's value. The key is valid as String's result is. in
// completes the message of a missing key, as in `expected a key in
// "headers"`.
func (l *Lexer) Key(in string) ([]byte, error) {
	if l.Peek() != '"' {
		return nil, l.expected("a key" + in)
	}
	key, err := l.String()
	if err != nil {
		return nil, err
	}
	l.Space()
	if l.Peek() != ':' {
		return nil, l.expected("':' after key")
	}
	l.pos++
	l.Space()
	return key, nil
}

// expected is the error of a missing what: "expected what, found ...".
func (l *Lexer) expected(what string) error {
	return l.Syntax(fmt.Sprintf("expected %s, found %s", what, l.Found()))
}

// Sep consumes what follows a member or an element: a ',' and the space
// after it (more is true), or the closing bracket end. in completes the
// message of anything else, as in `expected ',' or '}' in "headers"`.
func (l *Lexer) Sep(end byte, in string) (more bool, err error) {
	l.Space()
	switch l.Peek() {
	case ',':
		l.pos++
		l.Space()
		return true, nil
	case end:
		l.pos++
		return false, nil
	}
	return false, l.expected(fmt.Sprintf("',' or %q%s", end, in))
}

func (l *Lexer) skip(depth int) error {
	if depth > MaxDepth {
		return l.Syntax("nested too deep")
	}
	switch c := l.Peek(); {
	case c == '"':
		_, err := l.String()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if l.Enter() {
			return nil
		}
		for {
			if c == '{' {
				if _, err := l.Key(""); err != nil {
					return err
				}
			}
			if err := l.skip(depth + 1); err != nil {
				return err
			}
			if more, err := l.Sep(end, ""); !more {
				return err
			}
		}
	case c == '-' || IsDigit(c):
		_, err := l.Number()
		return err
	case c == 't':
		return l.literal("true")
	case c == 'f':
		return l.literal("false")
	case c == 'n':
		return l.literal("null")
	case l.AtEnd():
		return l.Syntax("unexpected end of input")
	default:
		return l.Syntax(fmt.Sprintf("unexpected %s", l.Found()))
	}
}

func (l *Lexer) literal(lit string) error {
	if l.SkipPrefix(lit) {
		return nil
	}
	return l.Syntax(fmt.Sprintf("unexpected %s", l.Found()))
}

// Number consumes a number and reports whether it is an integer literal (no
// fraction, no exponent). Its text is the input from the offset before the
// call to the offset after it.
func (l *Lexer) Number() (isInt bool, err error) {
	l.SkipPrefix("-")
	if l.Peek() == '0' {
		l.pos++
	} else if !l.digits() {
		return false, l.Syntax("bad number")
	}
	isInt = true
	if l.SkipPrefix(".") {
		isInt = false
		if !l.digits() {
			return false, l.Syntax("bad number")
		}
	}
	if c := l.Peek(); c == 'e' || c == 'E' {
		isInt = false
		l.pos++
		if c := l.Peek(); c == '+' || c == '-' {
			l.pos++
		}
		if !l.digits() {
			return false, l.Syntax("bad number")
		}
	}
	return isInt, nil
}

// digits consumes a run of digits and reports whether there was one.
func (l *Lexer) digits() bool {
	start := l.pos
	for l.pos < len(l.data) && IsDigit(l.data[l.pos]) {
		l.pos++
	}
	return l.pos > start
}

// Since returns the input from offset start to the current offset, such as
// the text of the number just read.
func (l *Lexer) Since(start int) []byte { return l.data[start:l.pos] }

// Syntax returns a SyntaxError with msg at the current offset.
func (l *Lexer) Syntax(msg string) error {
	return &SyntaxError{Msg: msg, Offset: l.pos}
}

// Found describes the next byte for an error message: the character it
// starts, quoted, or "end of input".
func (l *Lexer) Found() string {
	if l.pos >= len(l.data) {
		return "end of input"
	}
	c := l.data[l.pos]
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	r, _ := utf8.DecodeRune(l.data[l.pos:])
	return strconv.QuoteRune(r)
}

// TypeName names the type of the value a byte starts, for an error message
// such as "must be a string, not an array".
func TypeName(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || IsDigit(c):
		return "a number"
	}
	return "invalid JSON"
}

// StartsValue reports whether c can start a JSON value.
func StartsValue(c byte) bool {
	return c == '{' || c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' || IsDigit(c)
}

// IsDigit reports whether c is an ASCII digit.
func IsDigit(c byte) bool { return '0' <= c && c <= '9' }

package syftrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// SchemaEntry is one endpoint's part of rpc.schema.json.
type SchemaEntry struct {
	Endpoint string // "/echo" or "echo"; written in rpcpath.CleanEndpoint's form
	// JSON is the endpoint's schema object as the handler sent it, in any
	// formatting. Empty means the handler sent none: syft-event still
	// publishes every endpoint, with what generate_schema gives a handler
	// with no docstring, parameters or annotations.
	JSON string
}

// emptySchema is generate_schema's output for an undocumented handler.
const emptySchema = `{"description": null, "args": {}, "returns": "any"}`

// FormatSchema returns rpc.schema.json as syft-event writes it: Python's
// json.dumps(schema, indent=2) of {"/endpoint": entry, ...} in the given
// order, without a trailing newline. Keys keep their input order; a key given
// twice keeps its first place and its last value, as a Python dict does (for
// endpoints and inside entries alike).
//
// Output follows json.dumps: two-space indent, "," at line ends and ": "
// after keys, "{}" and "[]" for empty containers, ASCII only (\uXXXX escapes,
// surrogate pairs above U+FFFF). Numbers are printed as Python prints what
// json.loads made of them: integers as written ("-0" becomes "0"), anything
// with a fraction or exponent as a float's repr (1.50 -> 1.5, 1e5 ->
// 100000.0, 1e16 -> 1e+16, overflow -> Infinity). Two things differ from
// Python and are left so: strings are decoded by encoding/json, so invalid
// UTF-8 and lone surrogate escapes become U+FFFD where Python keeps a lone
// surrogate; and NaN/Infinity literals in the input, which are not JSON, are
// refused.
func FormatSchema(entries []SchemaEntry) ([]byte, error) {
	root := &jsonNode{kind: '{'}
	for _, e := range entries {
		endpoint, err := rpcpath.CleanEndpoint(e.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("format schema: %w", err)
		}
		src := e.JSON
		if strings.TrimSpace(src) == "" {
			src = emptySchema
		}
		v, err := decodeSchema(src)
		if err != nil {
			return nil, fmt.Errorf("decode schema of %s: %w", endpoint, err)
		}
		root.set(endpoint, v)
	}
	var b bytes.Buffer
	root.write(&b, 0)
	return b.Bytes(), nil
}

// jsonNode is a JSON value that keeps its object keys in order.
type jsonNode struct {
	kind byte   // '{', '[', '"', '0' (number) or 'l' (true, false, null)
	lit  string // the string, number literal or literal word
	keys []string
	vals []*jsonNode
	// index finds keys in large objects; built only past a few keys.
	index map[string]int
}

func (n *jsonNode) set(key string, v *jsonNode) {
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			n.vals[i] = v
			return
		}
	} else {
		for i, k := range n.keys {
			if k == key {
				n.vals[i] = v
				return
			}
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
	if n.index == nil && len(n.keys) > 16 {
		n.index = make(map[string]int, 2*len(n.keys))
		for i, k := range n.keys {
			n.index[k] = i
		}
	} else if n.index != nil {
		n.index[key] = len(n.keys) - 1
	}
}

var errSchemaNotObject = errors.New("not a JSON object")

func decodeSchema(src string) (*jsonNode, error) {
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errSchemaNotObject
	}
	v, err := readNode(dec, tok, 0)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the object was cut short
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the object")
		}
		return nil, err
	}
	return v, nil
}

func readNode(dec *json.Decoder, tok json.Token, depth int) (*jsonNode, error) {
	if depth > jsonlex.MaxDepth {
		return nil, errors.New("nested too deep")
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{kind: byte(t)}
		for dec.More() {
			var key string
			if t == '{' {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key = kt.(string) // the decoder guarantees a string key here
			}
			vt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readNode(dec, vt, depth+1)
			if err != nil {
				return nil, err
			}
			if t == '{' {
				n.set(key, v)
			} else {
				n.vals = append(n.vals, v)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &jsonNode{kind: '"', lit: t}, nil
	case json.Number:
		return &jsonNode{kind: '0', lit: pyNumber(string(t))}, nil
	case bool:
		return &jsonNode{kind: 'l', lit: strconv.FormatBool(t)}, nil
	case nil:
		return &jsonNode{kind: 'l', lit: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func (n *jsonNode) write(b *bytes.Buffer, level int) {
	switch n.kind {
	case '{', '[':
		if len(n.vals) == 0 {
			b.WriteByte(n.kind)
			b.WriteByte(n.kind + 2) // '{'+2 is '}', '['+2 is ']'
			return
		}
		b.WriteByte(n.kind)
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
			indent(b, level+1)
			if n.kind == '{' {
				writeASCIIString(b, n.keys[i])
				b.WriteString(": ")
			}
			v.write(b, level+1)
		}
		b.WriteByte('\n')
		indent(b, level)
		b.WriteByte(n.kind + 2)
	case '"':
		writeASCIIString(b, n.lit)
	default:
		b.WriteString(n.lit)
	}
}

func indent(b *bytes.Buffer, level int) {
	for range level {
		b.WriteString("  ")
	}
}

// writeASCIIString is json.dumps' ensure_ascii string encoding: everything
// outside ' '..'~' is escaped, with lower-case hex. Invalid UTF-8 (which
// the decoder never yields) would come out as \ufffd.
func writeASCIIString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= ' ' && r <= '~':
			b.WriteByte(byte(r))
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			writeU(b, r1)
			writeU(b, r2)
		default:
			writeU(b, r)
		}
	}
	b.WriteByte('"')
}

func writeU(b *bytes.Buffer, r rune) {
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xF])
	}
}

// pyNumber prints a JSON number literal as Python's json.dumps prints what
// json.loads made of it.
func pyNumber(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		if lit == "-0" {
			return "0" // int("-0") is 0
		}
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return lit // cannot happen for a literal the decoder accepted
	}
	return pyFloatRepr(f)
}

// pyFloatRepr is Python's repr(float) (also what json.dumps writes): the
// shortest digits that round-trip, in fixed notation when the decimal
// exponent is in [-4, 16), else in exponent notation with a signed exponent
// of at least two digits.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	// 'e' with precision -1 gives the shortest round-trip digits, as Python's
	// repr does: "-d.ddde±XX".
	e := strconv.FormatFloat(f, 'e', -1, 64)
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1 // digits are 0.d1d2... x 10^decpt

	var b strings.Builder
	b.WriteString(sign)
	switch {
	case decpt > 16 || decpt < -3:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if x < 0 {
			b.WriteByte('-')
			x = -x
		} else {
			b.WriteByte('+')
		}
		if x < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(x))
	case decpt <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -decpt))
		b.WriteString(digits)
	case decpt >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", decpt-len(digits)))
		b.WriteString(".0")
	default:
		b.WriteString(digits[:decpt])
		b.WriteByte('.')
		b.WriteString(digits[decpt:])
	}
	return b.String()
}

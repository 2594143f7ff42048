package syftrpc

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/openmined/syft-sidecar/rpcpath"
)

// maxDepth bounds the nesting of unknown values we skip, so a hostile file
// cannot exhaust the stack.
const maxDepth = 512

// decoder is a hand-written JSON reader for the one object shape we need. It
// is several times faster than encoding/json with reflection and allocates
// only what the result keeps: the strings of a message share one allocation.
type decoder struct {
	data []byte
	pos  int
	kind error // ErrInvalidRequest or ErrInvalidResponse

	// scratch holds an unescaped string until the next call to str.
	scratch []byte
	// block collects the kept strings; they are cut from one string at the
	// end, so a message costs one allocation for all of them.
	block []byte
	hdrs  []hdrSpan
}

type span struct{ off, end int }

type hdrSpan struct{ k, v span }

// decoders are pooled so their buffers are reused: a parse then allocates
// only what it returns.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// maxPooledBuffer keeps one huge file from pinning its buffers in the pool.
const maxPooledBuffer = 64 << 10

// parse fills m from data. kind is the sentinel that errors wrap; response
// selects status_code over method.
func (m *message) parse(data []byte, kind error, response bool) error {
	d := decoders.Get().(*decoder)
	d.data, d.pos, d.kind = data, 0, kind
	d.block, d.hdrs, d.scratch = d.block[:0], d.hdrs[:0], d.scratch[:0]
	defer func() {
		d.data = nil
		if cap(d.block) > maxPooledBuffer || cap(d.scratch) > maxPooledBuffer {
			return
		}
		decoders.Put(d)
	}()
	return m.decode(d, response)
}

func (m *message) decode(d *decoder, response bool) error {
	data := d.data
	var (
		id, sender, url          span
		hasID, hasSender, hasURL bool
		hasCreated, hasExpires   bool
		hasHeaders               bool
		method                   = MethodGet
		status                   = StatusOK
	)

	// Windows tools may write a byte order mark; it carries no meaning.
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		d.pos = 3
	}
	d.ws()
	if d.pos >= len(d.data) {
		if len(data) == 0 {
			return d.errorf("empty file")
		}
		return d.syntax("no JSON value")
	}
	if d.data[d.pos] != '{' {
		if c := d.data[d.pos]; c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' || isDigit(c) {
			return d.errorf("not a JSON object but %s", typeName(c))
		}
		return d.syntax(fmt.Sprintf("unexpected %s", d.quoteByte()))
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
	} else {
		for {
			if d.peek() != '"' {
				return d.syntax(fmt.Sprintf("expected a key, found %s", d.quoteByte()))
			}
			key, err := d.str()
			if err != nil {
				return err
			}
			// The key is looked up before the value reuses the scratch buffer.
			field := fieldOf(key)
			d.ws()
			if d.peek() != ':' {
				return d.syntax(fmt.Sprintf("expected ':' after key, found %s", d.quoteByte()))
			}
			d.pos++
			d.ws()
			if d.pos >= len(d.data) {
				return d.syntax("unexpected end of input")
			}

			switch field {
			case "id":
				b, err := d.stringField("id", false)
				if err != nil {
					return err
				}
				var u [36]byte
				if !parseUUID(b, &u) {
					return d.errorf("%q is not a UUID: %s", "id", quote(b))
				}
				id, hasID = d.keep(u[:]), true
			case "sender":
				b, err := d.stringField("sender", false)
				if err != nil {
					return err
				}
				if len(b) == 0 {
					return d.errorf("%q is empty", "sender")
				}
				sender, hasSender = d.keep(b), true
			case "url":
				b, err := d.stringField("url", false)
				if err != nil {
					return err
				}
				if !validSyftURL(b) {
					return d.errorf("%q is not a syft:// URL with an email host: %s", "url", quote(b))
				}
				url, hasURL = d.keep(b), true
			case "body":
				if d.null() {
					m.body = nil
					break
				}
				b, err := d.stringField("body", true)
				if err != nil {
					return err
				}
				body, err := decodeBase64(b)
				if err != nil {
					return d.errorf("%q is not base64: %v", "body", err)
				}
				m.body = body
			case "headers":
				if d.null() {
					d.hdrs = d.hdrs[:0]
					hasHeaders = false
					break
				}
				if err := d.headers(); err != nil {
					return err
				}
				hasHeaders = true
			case "created", "expires":
				if d.null() {
					// As if missing: the defaults apply.
					if field == "created" {
						hasCreated = false
					} else {
						hasExpires = false
					}
					break
				}
				b, err := d.stringField(field, false)
				if err != nil {
					return err
				}
				t, msg := parseTime(b)
				if msg != "" {
					return d.errorf("%q: cannot parse %s as an ISO 8601 time: %s", field, quote(b), msg)
				}
				if field == "created" {
					m.created, hasCreated = t, true
				} else {
					m.expires, hasExpires = t, true
				}
			case "method":
				if response {
					if err := d.skip(0); err != nil {
						return err
					}
					break
				}
				if d.null() {
					method = MethodGet
					break
				}
				b, err := d.stringField("method", false)
				if err != nil {
					return err
				}
				if method = knownMethod(b); method == "" {
					return d.errorf("%q %s is not one of GET HEAD POST PUT PATCH DELETE", "method", quote(b))
				}
			case "status_code":
				if !response {
					if err := d.skip(0); err != nil {
						return err
					}
					break
				}
				if d.null() {
					status = StatusOK
					break
				}
				code, err := d.statusCode()
				if err != nil {
					return err
				}
				status = code
			default:
				if err := d.skip(0); err != nil {
					return err
				}
			}

			d.ws()
			c := d.peek()
			d.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				d.pos--
				return d.syntax(fmt.Sprintf("expected ',' or '}' after a value, found %s", d.quoteByte()))
			}
			d.ws()
		}
	}
	d.ws()
	if d.pos < len(d.data) {
		return d.syntax(fmt.Sprintf("data after the object: %s", d.quoteByte()))
	}

	for _, f := range [...]struct {
		name string
		ok   bool
	}{{"id", hasID}, {"sender", hasSender}, {"url", hasURL}} {
		if !f.ok {
			return d.errorf("%q is missing", f.name)
		}
	}

	block := string(d.block)
	m.id = block[id.off:id.end]
	m.sender = block[sender.off:sender.end]
	m.url = block[url.off:url.end]
	if hasHeaders && len(d.hdrs) > 0 {
		m.headers = make(map[string]string, len(d.hdrs))
		for _, h := range d.hdrs {
			m.headers[block[h.k.off:h.k.end]] = block[h.v.off:h.v.end]
		}
	} else {
		m.headers = map[string]string{}
	}
	if !hasCreated {
		// syft-rpc's default_factory: the moment the file is read.
		m.created = time.Now().UTC().Truncate(time.Microsecond)
	}
	if !hasExpires {
		m.expires = m.created.Add(DefaultExpiry)
	}
	m.method = method
	m.status = status
	return nil
}

// fieldOf names the known keys; the switch on string(key) does not allocate.
func fieldOf(key []byte) string {
	switch string(key) {
	case "id":
		return "id"
	case "sender":
		return "sender"
	case "url":
		return "url"
	case "body":
		return "body"
	case "headers":
		return "headers"
	case "created":
		return "created"
	case "expires":
		return "expires"
	case "method":
		return "method"
	case "status_code":
		return "status_code"
	}
	return ""
}

// keep copies b into the block and returns where it sits.
func (d *decoder) keep(b []byte) span {
	off := len(d.block)
	d.block = append(d.block, b...)
	return span{off, len(d.block)}
}

// headers reads the headers object: string keys to string values.
func (d *decoder) headers() error {
	c := d.peek()
	if c != '{' {
		return d.errorf("%q must be an object of strings, not %s", "headers", typeName(c))
	}
	d.pos++
	d.hdrs = d.hdrs[:0]
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.syntax(fmt.Sprintf("expected a key in %q, found %s", "headers", d.quoteByte()))
		}
		kb, err := d.str()
		if err != nil {
			return err
		}
		k := d.keep(kb)
		d.ws()
		if d.peek() != ':' {
			return d.syntax(fmt.Sprintf("expected ':' after key, found %s", d.quoteByte()))
		}
		d.pos++
		d.ws()
		if c := d.peek(); c != '"' {
			if d.pos >= len(d.data) {
				return d.syntax("unexpected end of input")
			}
			if err := d.checkValue(); err != nil {
				return err
			}
			return d.errorf("%q value for %s must be a string, not %s", "headers", quote(d.block[k.off:k.end]), typeName(c))
		}
		vb, err := d.str()
		if err != nil {
			return err
		}
		d.hdrs = append(d.hdrs, hdrSpan{k, d.keep(vb)})
		d.ws()
		c := d.peek()
		d.pos++
		if c == '}' {
			return nil
		}
		if c != ',' {
			d.pos--
			return d.syntax(fmt.Sprintf("expected ',' or '}' in %q, found %s", "headers", d.quoteByte()))
		}
		d.ws()
	}
}

// stringField reads a string value, or says the value has the wrong type.
func (d *decoder) stringField(name string, nullable bool) ([]byte, error) {
	c := d.peek()
	if c == '"' {
		return d.str()
	}
	// A syntax error inside the value is the more useful message.
	if err := d.checkValue(); err != nil {
		return nil, err
	}
	if nullable {
		return nil, d.errorf("%q must be a string or null, not %s", name, typeName(c))
	}
	return nil, d.errorf("%q must be a string, not %s", name, typeName(c))
}

// checkValue validates the value at pos without consuming it.
func (d *decoder) checkValue() error {
	save := d.pos
	err := d.skip(0)
	d.pos = save
	return err
}

func (d *decoder) statusCode() (int, error) {
	c := d.peek()
	if c != '-' && !isDigit(c) {
		if err := d.checkValue(); err != nil {
			return 0, err
		}
		return 0, d.errorf("%q must be an integer, not %s", "status_code", typeName(c))
	}
	start := d.pos
	isInt, err := d.number()
	if err != nil {
		return 0, err
	}
	lit := d.data[start:d.pos]
	if !isInt {
		return 0, d.errorf("%q must be an integer, not %s", "status_code", lit)
	}
	n, err := strconv.Atoi(string(lit))
	if err != nil || n < 100 || n > 599 {
		return 0, d.errorf("%q %s is not between 100 and 599", "status_code", lit)
	}
	return n, nil
}

// null consumes a null literal if one is at pos.
func (d *decoder) null() bool {
	if len(d.data)-d.pos >= 4 && string(d.data[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// str reads the string at pos (which is '"'). The result aliases the input
// when the string has no escapes, else the scratch buffer: either way it is
// valid only until the next call.
func (d *decoder) str() ([]byte, error) {
	start := d.pos + 1
	i := start
	escaped, ascii := false, true
	data := d.data
	for {
		// Skip eight plain bytes at a time; stop at any byte worth a look.
		for i+8 <= len(data) && special(binary.LittleEndian.Uint64(data[i:])) == 0 {
			i += 8
		}
		if i >= len(data) {
			d.pos = i
			return nil, d.syntax("unterminated string")
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
			d.pos = i
			return nil, d.syntax("control character in string")
		case c >= 0x80:
			ascii = false
		}
		i++
	}
	raw := d.data[start:i]
	d.pos = i + 1
	if !ascii && !utf8.Valid(raw) {
		d.pos = start
		return nil, d.syntax("invalid UTF-8 in string")
	}
	if !escaped {
		return raw, nil
	}
	out, msg := unescape(d.scratch[:0], raw)
	if msg != "" {
		d.pos = start
		return nil, d.syntax(msg)
	}
	d.scratch = out
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

// skip consumes one JSON value of any type, checking its syntax.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return d.syntax("nested too deep")
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.pos++
		d.ws()
		if d.peek() == end {
			d.pos++
			return nil
		}
		for {
			if c == '{' {
				if d.peek() != '"' {
					return d.syntax(fmt.Sprintf("expected a key, found %s", d.quoteByte()))
				}
				if _, err := d.str(); err != nil {
					return err
				}
				d.ws()
				if d.peek() != ':' {
					return d.syntax(fmt.Sprintf("expected ':' after key, found %s", d.quoteByte()))
				}
				d.pos++
				d.ws()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			switch d.peek() {
			case ',':
				d.pos++
				d.ws()
			case end:
				d.pos++
				return nil
			default:
				return d.syntax(fmt.Sprintf("expected ',' or %q, found %s", end, d.quoteByte()))
			}
		}
	case c == '-' || isDigit(c):
		_, err := d.number()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case d.pos >= len(d.data):
		return d.syntax("unexpected end of input")
	default:
		return d.syntax(fmt.Sprintf("unexpected %s", d.quoteByte()))
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return nil
	}
	return d.syntax(fmt.Sprintf("unexpected %s", d.quoteByte()))
}

// number consumes a JSON number and reports whether it is an integer literal.
func (d *decoder) number() (isInt bool, err error) {
	p := d.pos
	if p < len(d.data) && d.data[p] == '-' {
		p++
	}
	switch {
	case p < len(d.data) && d.data[p] == '0':
		p++
	case p < len(d.data) && isDigit(d.data[p]):
		for p < len(d.data) && isDigit(d.data[p]) {
			p++
		}
	default:
		d.pos = p
		return false, d.syntax("bad number")
	}
	isInt = true
	if p < len(d.data) && d.data[p] == '.' {
		isInt = false
		p++
		if p >= len(d.data) || !isDigit(d.data[p]) {
			d.pos = p
			return false, d.syntax("bad number")
		}
		for p < len(d.data) && isDigit(d.data[p]) {
			p++
		}
	}
	if p < len(d.data) && (d.data[p] == 'e' || d.data[p] == 'E') {
		isInt = false
		p++
		if p < len(d.data) && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		if p >= len(d.data) || !isDigit(d.data[p]) {
			d.pos = p
			return false, d.syntax("bad number")
		}
		for p < len(d.data) && isDigit(d.data[p]) {
			p++
		}
	}
	d.pos = p
	return isInt, nil
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", d.kind, fmt.Sprintf(format, args...))
}

func (d *decoder) syntax(msg string) error {
	return fmt.Errorf("%w: not JSON: %s at offset %d", d.kind, msg, d.pos)
}

func (d *decoder) quoteByte() string {
	if d.pos >= len(d.data) {
		return "end of input"
	}
	c := d.data[d.pos]
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	r, _ := utf8.DecodeRune(d.data[d.pos:])
	return strconv.QuoteRune(r)
}

// Quote renders a value from a request file for a message, quoted and cut
// to 64 bytes: a 400 or 403 body says what was wrong without echoing what a
// file holds at length.
func Quote(s string) string { return quote([]byte(s)) }

// quote renders a bad value for an error message, cut short so a 400 body
// stays readable.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return strconv.Quote(string(b[:cut])) + "..."
	}
	return strconv.Quote(string(b))
}

func typeName(c byte) string {
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
	case c == '-' || isDigit(c):
		return "a number"
	}
	return "invalid JSON"
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func knownMethod(b []byte) string {
	switch string(b) {
	case MethodGet:
		return MethodGet
	case MethodHead:
		return MethodHead
	case MethodPost:
		return MethodPost
	case MethodPut:
		return MethodPut
	case MethodPatch:
		return MethodPatch
	case MethodDelete:
		return MethodDelete
	}
	return ""
}

// validSyftURL is syft-core's SyftBoxURL check,
// ^syft://([a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+)(/.*)?$ ,
// without a regexp: the host runs to the first '/', and '.' in "(/.*)" does
// not match a newline.
func validSyftURL(b []byte) bool {
	const scheme = "syft://"
	if len(b) < len(scheme) || string(b[:len(scheme)]) != scheme {
		return false
	}
	rest := b[len(scheme):]
	host := rest
	for i, c := range rest {
		if c == '/' {
			host = rest[:i]
			break
		}
	}
	if !rpcpath.IsEmail(host) {
		return false
	}
	for _, c := range rest[len(host):] {
		if c == '\n' {
			return false
		}
	}
	return true
}

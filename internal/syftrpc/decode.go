package syftrpc

import (
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
)

// decoder reads the one object shape of a syft-rpc message with a JSON lexer.
// It is several times faster than encoding/json with reflection and allocates
// only what the result keeps: the strings of a message share one allocation.
type decoder struct {
	lex  jsonlex.Lexer
	kind error // ErrInvalidRequest or ErrInvalidResponse

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
	d.lex.Reset(data)
	d.kind = kind
	d.block, d.hdrs = d.block[:0], d.hdrs[:0]
	defer func() {
		d.lex.Reset(nil)
		if cap(d.block) > maxPooledBuffer || d.lex.ScratchCap() > maxPooledBuffer {
			return
		}
		decoders.Put(d)
	}()
	err := m.decode(d, len(data) == 0, response)
	if _, ok := err.(*jsonlex.SyntaxError); ok {
		// Wrapped once here, so the reads above call the lexer directly.
		return fmt.Errorf("%w: %w", kind, err)
	}
	return err
}

// decode reads the message object: its keys in any order, unknown keys
// skipped, then the required keys checked and the defaults filled in.
func (m *message) decode(d *decoder, empty, response bool) error {
	lex := &d.lex
	var (
		id, sender, url          span
		hasID, hasSender, hasURL bool
		hasCreated, hasExpires   bool
		hasHeaders               bool
		method                   = MethodGet
		status                   = StatusOK
	)

	// Windows tools may write a byte order mark; it carries no meaning.
	lex.SkipPrefix("\xEF\xBB\xBF")
	lex.Space()
	if lex.AtEnd() {
		if empty {
			return d.errorf("empty file")
		}
		return lex.Syntax("no JSON value")
	}
	if c := lex.Peek(); c != '{' {
		if jsonlex.StartsValue(c) {
			return d.errorf("not a JSON object but %s", jsonlex.TypeName(c))
		}
		return lex.Syntax(fmt.Sprintf("unexpected %s", lex.Found()))
	}
	if !lex.Enter() {
		for {
			key, err := lex.Key("")
			if err != nil {
				return err
			}
			// The key is looked up before the value reuses the scratch buffer.
			field := fieldOf(key, response)
			if lex.AtEnd() {
				return lex.Syntax("unexpected end of input")
			}

			switch field {
			case "id":
				id, hasID, err = d.readID()
			case "sender":
				sender, hasSender, err = d.readSender()
			case "url":
				url, hasURL, err = d.readURL()
			case "body":
				m.body, err = d.readBody()
			case "headers":
				hasHeaders, err = d.readHeaders()
			case "created":
				m.created, hasCreated, err = d.readTime(field)
			case "expires":
				m.expires, hasExpires, err = d.readTime(field)
			case "method":
				method, err = d.readMethod()
			case "status_code":
				status, err = d.readStatus()
			default:
				err = lex.Skip()
			}
			if err != nil {
				return err
			}

			if more, err := lex.Sep('}', " after a value"); !more {
				if err != nil {
					return err
				}
				break
			}
		}
	}
	lex.Space()
	if !lex.AtEnd() {
		return lex.Syntax(fmt.Sprintf("data after the object: %s", lex.Found()))
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

// fieldOf names the keys a request (or, with response, a response) has;
// the other kind's key is skipped as unknown. The switch on string(key)
// does not allocate.
func fieldOf(key []byte, response bool) string {
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
		if !response {
			return "method"
		}
	case "status_code":
		if response {
			return "status_code"
		}
	}
	return ""
}

// readSender reads the sender: any string but the empty one.
func (d *decoder) readSender() (span, bool, error) {
	b, err := d.stringField("sender", false)
	if err != nil {
		return span{}, false, err
	}
	if len(b) == 0 {
		return span{}, false, d.errorf("%q is empty", "sender")
	}
	return d.keep(b), true, nil
}

// keep copies b into the block and returns where it sits.
func (d *decoder) keep(b []byte) span {
	off := len(d.block)
	d.block = append(d.block, b...)
	return span{off, len(d.block)}
}

// stringField reads a string value, or says the value has the wrong type.
func (d *decoder) stringField(name string, nullable bool) ([]byte, error) {
	lex := &d.lex
	c := lex.Peek()
	if c == '"' {
		return lex.String()
	}
	// A syntax error inside the value is the more useful message.
	if err := lex.Check(); err != nil {
		return nil, err
	}
	if nullable {
		return nil, d.errorf("%q must be a string or null, not %s", name, jsonlex.TypeName(c))
	}
	return nil, d.errorf("%q must be a string, not %s", name, jsonlex.TypeName(c))
}

// errorf is an error of the schema: the file is JSON, but not a message.
// The lexer's syntax errors are wrapped in d.kind by parse.
func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", d.kind, fmt.Sprintf(format, args...))
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

package syftrpc

import (
	"fmt"
	"slices"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
)

// The headers rule: an object of string keys to string values, null or
// missing read as none, written with sorted keys.

// headers reads the headers object: string keys to string values.
func (d *decoder) headers() error {
	lex := &d.lex
	c := lex.Peek()
	if c != '{' {
		return d.errorf("%q must be an object of strings, not %s", "headers", jsonlex.TypeName(c))
	}
	lex.Next()
	d.hdrs = d.hdrs[:0]
	lex.Space()
	if lex.Peek() == '}' {
		lex.Next()
		return nil
	}
	for {
		if lex.Peek() != '"' {
			return d.syntax(fmt.Sprintf("expected a key in %q, found %s", "headers", lex.Found()))
		}
		kb, err := d.str()
		if err != nil {
			return err
		}
		k := d.keep(kb)
		lex.Space()
		if lex.Peek() != ':' {
			return d.syntax(fmt.Sprintf("expected ':' after key, found %s", lex.Found()))
		}
		lex.Next()
		lex.Space()
		if c := lex.Peek(); c != '"' {
			if lex.AtEnd() {
				return d.syntax("unexpected end of input")
			}
			if err := d.check(); err != nil {
				return err
			}
			return d.errorf("%q value for %s must be a string, not %s", "headers", quote(d.block[k.off:k.end]), jsonlex.TypeName(c))
		}
		vb, err := d.str()
		if err != nil {
			return err
		}
		d.hdrs = append(d.hdrs, hdrSpan{k, d.keep(vb)})
		lex.Space()
		c := lex.Next()
		if c == '}' {
			return nil
		}
		if c != ',' {
			lex.Back()
			return d.syntax(fmt.Sprintf("expected ',' or '}' in %q, found %s", "headers", lex.Found()))
		}
		lex.Space()
	}
}

func appendHeaders(dst []byte, h map[string]string) []byte {
	switch len(h) {
	case 0:
		return dst
	case 1:
		for k, v := range h {
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, v)
		}
		return dst
	}
	// A small array keeps the common case off the heap.
	var arr [16]string
	keys := arr[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, h[k])
	}
	return dst
}

package syftrpc

import (
	"slices"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
)

// The headers rule: an object of string keys to string values, null or
// missing read as none, written with sorted keys.

// readHeaders reads headers: an object of string keys to string values,
// or null for none (then ok is false).
func (d *decoder) readHeaders() (ok bool, err error) {
	lex := &d.lex
	d.hdrs = d.hdrs[:0]
	if lex.Null() {
		return false, nil
	}
	c := lex.Peek()
	if c != '{' {
		return false, d.errorf("%q must be an object of strings, not %s", "headers", jsonlex.TypeName(c))
	}
	if lex.Enter() {
		return true, nil
	}
	for {
		kb, err := lex.Key(` in "headers"`)
		if err != nil {
			return false, err
		}
		k := d.keep(kb)
		if c := lex.Peek(); c != '"' {
			if lex.AtEnd() {
				return false, lex.Syntax("unexpected end of input")
			}
			if err := lex.Check(); err != nil {
				return false, err
			}
			return false, d.errorf("%q value for %s must be a string, not %s", "headers", quote(d.block[k.off:k.end]), jsonlex.TypeName(c))
		}
		vb, err := lex.String()
		if err != nil {
			return false, err
		}
		d.hdrs = append(d.hdrs, hdrSpan{k, d.keep(vb)})
		if more, err := lex.Sep('}', ` in "headers"`); !more {
			return err == nil, err
		}
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

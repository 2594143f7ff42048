package syftrpc

import (
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
	d.hdrs = d.hdrs[:0]
	if lex.Enter() {
		return nil
	}
	for {
		kb, err := lex.Key(` in "headers"`)
		if err != nil {
			return err
		}
		k := d.keep(kb)
		if c := lex.Peek(); c != '"' {
			if lex.AtEnd() {
				return lex.Syntax("unexpected end of input")
			}
			if err := lex.Check(); err != nil {
				return err
			}
			return d.errorf("%q value for %s must be a string, not %s", "headers", quote(d.block[k.off:k.end]), jsonlex.TypeName(c))
		}
		vb, err := lex.String()
		if err != nil {
			return err
		}
		d.hdrs = append(d.hdrs, hdrSpan{k, d.keep(vb)})
		if more, err := lex.Sep('}', ` in "headers"`); !more {
			if err != nil {
				return err
			}
			return nil
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

package syftrpc

import (
	"encoding/base64"
	"errors"
)

// The body rule: written as pydantic's ser_json_bytes="base64" writes bytes,
// read in every base64 form the writers of syft-rpc files use.

// appendBody writes the body as pydantic's ser_json_bytes="base64" does:
// URL-safe alphabet with padding, or null.
func appendBody(dst, body []byte) []byte {
	if body == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.URLEncoding.AppendEncode(dst, body)
	return append(dst, '"')
}

// b64 maps both alphabets, standard and URL-safe, to their values; 0xFF marks
// bytes in neither.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for i := 0; i < len(std); i++ {
		t[std[i]] = byte(i)
	}
	t['+'], t['-'] = 62, 62
	t['/'], t['_'] = 63, 63
	return t
}()

var (
	errBase64Length = errors.New("bad length or padding")
	errBase64Char   = errors.New("character outside the base64 alphabets")
)

// decodeBase64 accepts the standard and URL-safe alphabets, padded or not
// (pydantic accepts both, the SyftBox Go client writes standard). Bits left
// over in the last character are ignored, as Go's decoder does.
func decodeBase64(s []byte) ([]byte, error) {
	// Padding is optional, and may be partial ("_w=") as pydantic allows,
	// but never more than the last group needs.
	pad := 0
	for pad < 2 && len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
		pad++
	}
	switch len(s) % 4 {
	case 1:
		return nil, errBase64Length
	case 0:
		if pad > 0 {
			return nil, errBase64Length
		}
	case 3:
		if pad > 1 {
			return nil, errBase64Length
		}
	}
	out := make([]byte, len(s)*3/4)
	n := 0
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a, b, c, d := b64[s[i]], b64[s[i+1]], b64[s[i+2]], b64[s[i+3]]
		if (a|b|c|d)&0xC0 != 0 {
			return nil, errBase64Char
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		out[n], out[n+1], out[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	switch len(s) - i {
	case 2:
		a, b := b64[s[i]], b64[s[i+1]]
		if (a|b)&0xC0 != 0 {
			return nil, errBase64Char
		}
		out[n] = a<<2 | b>>4
	case 3:
		a, b, c := b64[s[i]], b64[s[i+1]], b64[s[i+2]]
		if (a|b|c)&0xC0 != 0 {
			return nil, errBase64Char
		}
		out[n], out[n+1] = a<<2|b>>4, b<<4|c>>2
	}
	return out, nil
}

// readBody reads body: base64 in either alphabet, or null for none.
func (d *decoder) readBody() ([]byte, error) {
	if d.lex.Null() {
		return nil, nil
	}
	b, err := d.stringField("body", true)
	if err != nil {
		return nil, err
	}
	body, err := decodeBase64(b)
	if err != nil {
		return nil, d.errorf("%q is not base64: %v", "body", err)
	}
	return body, nil
}

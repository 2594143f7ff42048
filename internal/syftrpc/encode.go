package syftrpc

import (
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// appendString appends s as a JSON string escaped the way pydantic (serde_json)
// does: only '"', '\\' and control characters below 0x20 are escaped, with
// \b \t \n \f \r for those that have them and lower-case \u00XX for the rest.
// '<', '>', '&', U+2028, U+2029 and DEL stay as they are, unlike Go's
// encoding/json. Invalid UTF-8, which no Python string can hold, is written
// as U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

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

// parseUUID reads the forms pydantic accepts (hyphenated, 32 hex digits,
// braced, urn:uuid:) in any case and writes the canonical lower-case
// hyphenated form, which is what syft-rpc writes back.
func parseUUID(b []byte, out *[36]byte) bool {
	switch {
	case len(b) == 45 && string(b[:9]) == "urn:uuid:":
		b = b[9:]
	case len(b) == 38 && b[0] == '{' && b[37] == '}':
		b = b[1:37]
	}
	switch len(b) {
	case 36:
		if b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
			return false
		}
		for i, c := range b {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				out[i] = '-'
				continue
			}
			if out[i] = lowerHex[c]; out[i] == 0 {
				return false
			}
		}
	case 32:
		j := 0
		for i := range out {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				out[i] = '-'
				continue
			}
			if out[i] = lowerHex[b[j]]; out[i] == 0 {
				return false
			}
			j++
		}
	default:
		return false
	}
	return true
}

// lowerHex maps hex digits to their lower-case form and anything else to 0.
var lowerHex = func() (t [256]byte) {
	for _, c := range []byte("0123456789abcdef") {
		t[c] = c
	}
	for _, c := range []byte("ABCDEF") {
		t[c] = c + 'a' - 'A'
	}
	return t
}()

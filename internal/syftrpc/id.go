package syftrpc

// The id rule: any UUID form pydantic reads, kept in the canonical form
// syft-rpc writes.

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

// readID reads id: a UUID in any form parseUUID takes, kept canonical.
func (d *decoder) readID() (span, bool, error) {
	b, err := d.stringField("id", false)
	if err != nil {
		return span{}, false, err
	}
	var u [36]byte
	if !parseUUID(b, &u) {
		return span{}, false, d.errorf("%q is not a UUID: %s", "id", quote(b))
	}
	return d.keep(u[:]), true, nil
}

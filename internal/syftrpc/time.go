package syftrpc

import (
	"strconv"
	"time"
)

// FormatTime formats t as Python's datetime.isoformat() does for an aware
// datetime: 2025-11-05T10:15:30.123456+00:00, the fraction left out when the
// microseconds are 0, the offset t's own (seconds shown only when non-zero,
// as Python does). Digits past the microsecond are dropped. Writers should
// pass UTC times, as syft-rpc does.
func FormatTime(t time.Time) string {
	var buf [40]byte
	return string(appendTime(buf[:0], t))
}

func appendTime(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	dst = appendInt(dst, year, 4)
	dst = append(dst, '-')
	dst = appendInt(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendInt(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendInt(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, min, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, sec, 2)
	if us := t.Nanosecond() / 1000; us != 0 {
		dst = append(dst, '.')
		dst = appendInt(dst, us, 6)
	}
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	dst = append(dst, sign)
	dst = appendInt(dst, off/3600, 2)
	dst = append(dst, ':')
	dst = appendInt(dst, off/60%60, 2)
	if off%60 != 0 {
		dst = append(dst, ':')
		dst = appendInt(dst, off%60, 2)
	}
	return dst
}

// appendInt appends a non-negative n zero-padded to width digits.
func appendInt(dst []byte, n, width int) []byte {
	if n < 0 {
		// Years before 1 cannot come from Python; write something readable.
		return strconv.AppendInt(dst, int64(n), 10)
	}
	var buf [20]byte
	i := len(buf)
	for n >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	buf[i] = byte('0' + n)
	return append(dst, buf[i:]...)
}

// parseTime reads an ISO 8601 date-time with a UTC offset:
//
//	YYYY-MM-DD(T|t| )HH:MM:SS[(.|,)digits](Z|z|±HH:MM|±HHMM|±HH:MM:SS)
//
// That covers what syft-rpc writes (isoformat), what the SyftBox Go client
// writes (RFC 3339 with up to 9 digits and Z) and what pydantic reads, less
// the shapes no writer uses (dates alone, Unix numbers). A time without an
// offset is refused: syft-rpc would fail comparing it with an aware now.
// Fractional digits past the microsecond are truncated, as pydantic does. On
// failure it returns a reason for the error message.
func parseTime(b []byte) (time.Time, string) {
	const layout = "YYYY-MM-DDTHH:MM:SS"
	if len(b) < len(layout) {
		return time.Time{}, "too short"
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if !isDigit(c) {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, min, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 0 || day < 0 || hour < 0 || min < 0 || sec < 0 ||
		b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, "want YYYY-MM-DDTHH:MM:SS"
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, "want 'T' between date and time"
	}
	switch {
	case year == 0:
		return time.Time{}, "year 0 out of range"
	case month < 1 || month > 12:
		return time.Time{}, "month out of range"
	case day < 1 || day > daysIn(month, year):
		return time.Time{}, "day out of range"
	case hour > 23:
		return time.Time{}, "hour out of range"
	case min > 59:
		return time.Time{}, "minute out of range"
	case sec > 59:
		return time.Time{}, "second out of range"
	}

	i := len(layout)
	usec := 0
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		start := i
		for i < len(b) && isDigit(b[i]) {
			if i-start < 6 {
				usec = usec*10 + int(b[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 {
			return time.Time{}, "no digits after the decimal point"
		}
		for ; n < 6; n++ {
			usec *= 10
		}
	}

	if i >= len(b) {
		return time.Time{}, "no UTC offset"
	}
	loc := time.UTC
	switch c := b[i]; c {
	case 'Z', 'z':
		i++
	case '+', '-':
		rest := b[i+1:]
		var oh, om, os int
		switch {
		case len(rest) == 5 && rest[2] == ':':
			oh, om = num(i+1, 2), num(i+4, 2)
		case len(rest) == 4:
			oh, om = num(i+1, 2), num(i+3, 2)
		case len(rest) == 8 && rest[2] == ':' && rest[5] == ':':
			oh, om, os = num(i+1, 2), num(i+4, 2), num(i+7, 2)
		default:
			return time.Time{}, "want the offset as Z or ±HH:MM"
		}
		if oh < 0 || om < 0 || os < 0 {
			return time.Time{}, "want the offset as Z or ±HH:MM"
		}
		if oh > 23 || om > 59 || os > 59 {
			return time.Time{}, "offset out of range"
		}
		off := oh*3600 + om*60 + os
		if c == '-' {
			off = -off
		}
		if off != 0 {
			loc = time.FixedZone("", off)
		}
		i = len(b)
	default:
		return time.Time{}, "want the offset as Z or ±HH:MM"
	}
	if i != len(b) {
		return time.Time{}, "unexpected text after the offset"
	}
	return time.Date(year, time.Month(month), day, hour, min, sec, usec*1000, loc), ""
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// readTime reads created or expires (named by field). Null is as if the key
// were missing, so ok is false and the default applies.
func (d *decoder) readTime(field string) (t time.Time, ok bool, err error) {
	if d.lex.Null() {
		return time.Time{}, false, nil
	}
	b, err := d.stringField(field, false)
	if err != nil {
		return time.Time{}, false, err
	}
	t, msg := parseTime(b)
	if msg != "" {
		return time.Time{}, false, d.errorf("%q: cannot parse %s as an ISO 8601 time: %s", field, quote(b), msg)
	}
	return t, true, nil
}

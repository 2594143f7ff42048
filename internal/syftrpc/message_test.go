package syftrpc

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

const (
	testID  = "4eb92bc9-2be1-4e83-9be0-b9e29dcf24c9"
	testURL = "syft://bob@example.com/app_data/echo/rpc/echo"
)

func MustParseRequest(t testing.TB, data string) *Request {
	t.Helper()
	r, err := ParseRequest([]byte(data))
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", data, err)
	}
	return r
}

func MustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestParseRequestShapes covers what other writers produce: the SyftBox Go
// client (its SyftRPCMessage marshals keys in struct order, times as
// RFC 3339 with nanoseconds and Z, standard base64, no body when empty, no
// method when unset) and its HTTP bridge.
func TestParseRequestShapes(t *testing.T) {
	created := MustTime(t, "2026-01-02T03:04:05.123456Z")
	tests := []struct {
		name    string
		in      string
		body    []byte
		headers map[string]string
		created time.Time
		expires time.Time
		method  string
	}{
		{
			name: "go client order and nanoseconds",
			in: `{"id":"` + testID + `","sender":"a@b.com","headers":{"X-A":"1"},"created":"2026-01-02T03:04:05.123456789Z",` +
				`"expires":"2026-01-03T03:04:05.1Z","method":"POST","url":"` + testURL + `","body":"eyJhIjoxfQ=="}`,
			body: []byte(`{"a":1}`), headers: map[string]string{"X-A": "1"},
			created: created, expires: MustTime(t, "2026-01-03T03:04:05.1Z"), method: "POST",
		},
		{
			name:    "missing body method and headers",
			in:      `{"url":"` + testURL + `","id":"` + testID + `","sender":"a@b.com","created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}`,
			headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "null body headers method",
			in: `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","body":null,"headers":null,"method":null,` +
				`"created":"2026-01-02T03:04:05.123456+00:00","expires":"2026-01-02T03:05:05+00:00"}`,
			headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "standard base64 without padding",
			in:   `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","body":"+/8","created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}`,
			body: []byte{0xfb, 0xff}, headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "url-safe base64 without padding",
			in:   `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","body":"-_8","created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}`,
			body: []byte{0xfb, 0xff}, headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "partial padding",
			in:   `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","body":"_w=","created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}`,
			body: []byte{0xff}, headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "empty body",
			in:   `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","body":"","created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}`,
			body: []byte{}, headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "unknown keys of every type",
			in: `{"v":1,"id":"` + testID + `","x":{"a":[1,2.5e3,-0.1,true,false,null,{"b":"\u00e9"}]},"sender":"a@b.com","url":"` + testURL + `",` +
				`"status_code":200,"created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z","y":[],"z":{}}`,
			headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name: "whitespace bom and escapes",
			in: "\xEF\xBB\xBF \n{ \"id\" : \"" + testID + "\" ,\r\n\t\"sender\":\"a\\u0040b.com\", \"url\":\"syft:\\/\\/bob@example.com\\/app_data\\/echo\\/rpc\\/echo\"," +
				`"headers":{"k\"":"\ud83d\ude00\n"},"created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}` + " \n",
			headers: map[string]string{`k"`: "😀\n"}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name:    "duplicate keys: last wins",
			in:      `{"id":"` + testID + `","sender":"x@y.com","sender":"a@b.com","url":"` + testURL + `","headers":{"k":"1","k":"2"},"method":"PUT","method":"HEAD","created":"2026-01-02T03:04:05.123456Z","expires":"2026-01-02T03:05:05Z"}`,
			headers: map[string]string{"k": "2"}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "HEAD",
		},
		{
			name:    "offsets and comma fraction",
			in:      `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","created":"2026-01-02 08:34:05,123456+0530","expires":"2026-01-01t22:05:05-05:00"}`,
			headers: map[string]string{}, created: created, expires: MustTime(t, "2026-01-02T03:05:05Z"), method: "GET",
		},
		{
			name:    "missing expires is created plus a day",
			in:      `{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","created":"2026-01-02T03:04:05.123456Z"}`,
			headers: map[string]string{}, created: created, expires: created.Add(24 * time.Hour), method: "GET",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustParseRequest(t, tt.in)
			if r.ID != testID || r.Sender != "a@b.com" || r.URL != testURL {
				t.Errorf("ID, Sender, URL = %q, %q, %q", r.ID, r.Sender, r.URL)
			}
			checkBody(t, r.Body, tt.body)
			if r.Headers == nil || !maps.Equal(r.Headers, tt.headers) {
				t.Errorf("Headers = %q, want %q", r.Headers, tt.headers)
			}
			if !r.Created.Equal(tt.created) || !r.Expires.Equal(tt.expires) {
				t.Errorf("Created, Expires = %v, %v; want %v, %v", r.Created, r.Expires, tt.created, tt.expires)
			}
			if r.Method != tt.method {
				t.Errorf("Method = %q, want %q", r.Method, tt.method)
			}
		})
	}
}

func TestParseRequestIDForms(t *testing.T) {
	for _, in := range []string{
		"4EB92BC9-2BE1-4E83-9BE0-B9E29DCF24C9",
		"4eb92bc92be14e839be0b9e29dcf24c9",
		"{4eb92bc9-2be1-4e83-9be0-b9e29dcf24c9}",
		"urn:uuid:4eb92bc9-2be1-4e83-9be0-b9e29dcf24c9",
	} {
		r := MustParseRequest(t, `{"id":"`+in+`","sender":"a@b.com","url":"`+testURL+`"}`)
		if r.ID != testID {
			t.Errorf("ID of %q = %q, want %q", in, r.ID, testID)
		}
	}
}

func TestParseRequestMissingCreatedIsNow(t *testing.T) {
	before := time.Now().Truncate(time.Microsecond)
	r := MustParseRequest(t, `{"id":"`+testID+`","sender":"a@b.com","url":"`+testURL+`"}`)
	after := time.Now()
	if r.Created.Before(before) || r.Created.After(after) || r.Created.Location() != time.UTC {
		t.Errorf("Created = %v, want UTC now in [%v, %v]", r.Created, before, after)
	}
	if !r.Expires.Equal(r.Created.Add(DefaultExpiry)) {
		t.Errorf("Expires = %v, want Created + %v", r.Expires, DefaultExpiry)
	}
}

func TestParseRejects(t *testing.T) {
	const tail = `"sender":"a@b.com","url":"` + testURL + `","created":"2026-01-02T03:04:05Z","expires":"2026-01-02T03:05:05Z"`
	req := func(fields string) string { return `{"id":"` + testID + `",` + tail + fields + `}` }
	tests := []struct {
		name, in, want string
		response       bool
	}{
		{"empty file", ``, `invalid request: empty file`, false},
		{"whitespace", " \n", `invalid request: not JSON: no JSON value at offset 2`, false},
		{"truncated", `{"id":"` + testID + `","sen`, `invalid request: not JSON: unterminated string`, false},
		{"truncated after comma", `{"id":"` + testID + `",`, `invalid request: not JSON: expected a key, found end of input`, false},
		{"garbage", `hello`, `invalid request: not JSON: unexpected 'h' at offset 0`, false},
		{"array", `[1,2]`, `invalid request: not a JSON object but an array`, false},
		{"string", `"x"`, `invalid request: not a JSON object but a string`, false},
		{"trailing data", req(``) + `{}`, `invalid request: not JSON: data after the object: '{'`, false},
		{"missing comma", `{"id":"` + testID + `" "sender":"a@b.com"}`, `invalid request: not JSON: expected ',' or '}' after a value, found '"'`, false},
		{"trailing comma", req(`,`), `invalid request: not JSON: expected a key, found '}'`, false},
		{"bad literal", req(`,"x":nul`), `invalid request: not JSON: unexpected 'n'`, false},
		{"bad number", req(`,"x":01`), `invalid request: not JSON: expected ',' or '}' after a value, found '1'`, false},
		{"bad escape", req(`,"x":"\q"`), `invalid request: not JSON: bad escape`, false},
		{"lone surrogate", req(`,"x":"\ud800"`), `invalid request: not JSON: lone surrogate in \u escape`, false},
		{"control character", "{\"id\":\"a\tb\"}", `invalid request: not JSON: control character in string`, false},
		{"invalid utf-8", "{\"sender\":\"\xff\"}", `invalid request: not JSON: invalid UTF-8 in string`, false},
		{"deep nesting", req(`,"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000)), `invalid request: not JSON: nested too deep`, false},
		{"missing id", `{` + tail + `}`, `invalid request: "id" is missing`, false},
		{"missing sender", `{"id":"` + testID + `","url":"` + testURL + `"}`, `invalid request: "sender" is missing`, false},
		{"missing url", `{"id":"` + testID + `","sender":"a@b.com"}`, `invalid request: "url" is missing`, false},
		{"id not uuid", `{"id":"abc",` + tail + `}`, `invalid request: "id" is not a UUID: "abc"`, false},
		{"id bad group", `{"id":"4eb92bc92-be1-4e83-9be0-b9e29dcf24c9",` + tail + `}`, `invalid request: "id" is not a UUID: "4eb92bc92-be1-4e83-9be0-b9e29dcf24c9"`, false},
		{"id number", `{"id":5,` + tail + `}`, `invalid request: "id" must be a string, not a number`, false},
		{"id null", `{"id":null,` + tail + `}`, `invalid request: "id" must be a string, not null`, false},
		{"sender object", `{"id":"` + testID + `","sender":{}}`, `invalid request: "sender" must be a string, not an object`, false},
		{"sender empty", `{"id":"` + testID + `","sender":""}`, `invalid request: "sender" is empty`, false},
		{"url not syft", `{"id":"` + testID + `","url":"http://bob@example.com/x"}`, `invalid request: "url" is not a syft:// URL with an email host: "http://bob@example.com/x"`, false},
		{"url host", `{"id":"` + testID + `","url":"syft://bob/app_data/x"}`, `invalid request: "url" is not a syft:// URL with an email host: "syft://bob/app_data/x"`, false},
		{"body number", req(`,"body":5`), `invalid request: "body" must be a string or null, not a number`, false},
		{"body bad char", req(`,"body":"ab c"`), `invalid request: "body" is not base64: character outside the base64 alphabets`, false},
		{"body bad length", req(`,"body":"a"`), `invalid request: "body" is not base64: bad length or padding`, false},
		{"body too much padding", req(`,"body":"AAA=="`), `invalid request: "body" is not base64: bad length or padding`, false},
		{"body padding only", req(`,"body":"=="`), `invalid request: "body" is not base64: bad length or padding`, false},
		{"body padding inside", req(`,"body":"AA=A"`), `invalid request: "body" is not base64: character outside the base64 alphabets`, false},
		{"headers array", req(`,"headers":[]`), `invalid request: "headers" must be an object of strings, not an array`, false},
		{"header value number", req(`,"headers":{"a":"b","X-N":1}`), `invalid request: "headers" value for "X-N" must be a string, not a number`, false},
		{"header value null", req(`,"headers":{"a":null}`), `invalid request: "headers" value for "a" must be a string, not null`, false},
		{"created not string", req(`,"created":1700000000`), `invalid request: "created" must be a string, not a number`, false},
		{"created garbage", req(`,"created":"yesterday"`), `invalid request: "created": cannot parse "yesterday" as an ISO 8601 time: too short`, false},
		{"created naive", req(`,"created":"2026-01-02T03:04:05.123"`), `invalid request: "created": cannot parse "2026-01-02T03:04:05.123" as an ISO 8601 time: no UTC offset`, false},
		{"created date only", req(`,"created":"2026-01-02"`), `invalid request: "created": cannot parse "2026-01-02" as an ISO 8601 time: too short`, false},
		{"created month", req(`,"created":"2026-13-02T03:04:05Z"`), `month out of range`, false},
		{"created day", req(`,"created":"2026-02-29T03:04:05Z"`), `day out of range`, false},
		{"created year 0", req(`,"created":"0000-01-01T03:04:05Z"`), `year 0 out of range`, false},
		{"created hour 24", req(`,"created":"2026-01-02T24:00:00Z"`), `hour out of range`, false},
		{"created leap second", req(`,"created":"2026-01-02T23:59:60Z"`), `second out of range`, false},
		{"created empty fraction", req(`,"created":"2026-01-02T03:04:05.Z"`), `no digits after the decimal point`, false},
		{"created bad offset", req(`,"created":"2026-01-02T03:04:05+05"`), `want the offset as Z or ±HH:MM`, false},
		{"created offset range", req(`,"created":"2026-01-02T03:04:05+24:00"`), `offset out of range`, false},
		{"created text after", req(`,"created":"2026-01-02T03:04:05Zx"`), `unexpected text after the offset`, false},
		{"expires bad", req(`,"expires":"2026-01-02T03:04"`), `invalid request: "expires": cannot parse "2026-01-02T03:04" as an ISO 8601 time: too short`, false},
		{"method unknown", req(`,"method":"FOO"`), `invalid request: "method" "FOO" is not one of GET HEAD POST PUT PATCH DELETE`, false},
		{"method lower case", req(`,"method":"get"`), `invalid request: "method" "get" is not one of GET HEAD POST PUT PATCH DELETE`, false},
		{"method number", req(`,"method":1`), `invalid request: "method" must be a string, not a number`, false},
		{"long value is cut", `{"id":"` + strings.Repeat("x", 100) + `"}`, `invalid request: "id" is not a UUID: "` + strings.Repeat("x", 64) + `"...`, false},

		{"response status low", req(`,"status_code":99`), `invalid response: "status_code" 99 is not between 100 and 599`, true},
		{"response status high", req(`,"status_code":600`), `invalid response: "status_code" 600 is not between 100 and 599`, true},
		{"response status huge", req(`,"status_code":99999999999999999999`), `invalid response: "status_code" 99999999999999999999 is not between 100 and 599`, true},
		{"response status float", req(`,"status_code":200.0`), `invalid response: "status_code" must be an integer, not 200.0`, true},
		{"response status string", req(`,"status_code":"200"`), `invalid response: "status_code" must be an integer, not a string`, true},
		{"response status bool", req(`,"status_code":true`), `invalid response: "status_code" must be an integer, not a boolean`, true},
		{"response missing id", `{` + tail + `}`, `invalid response: "id" is missing`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			sentinel := ErrInvalidRequest
			if tt.response {
				_, err = ParseResponse([]byte(tt.in))
				sentinel = ErrInvalidResponse
			} else {
				_, err = ParseRequest([]byte(tt.in))
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("error %q does not wrap %v", err, sentinel)
			}
		})
	}
}

func TestParseResponseDefaults(t *testing.T) {
	for _, in := range []string{
		`{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `"}`,
		`{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","status_code":null,"method":"FOO"}`,
	} {
		r, err := ParseResponse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != 200 || r.Headers == nil || r.Body != nil {
			t.Errorf("ParseResponse(%s) = %+v, want status 200, empty headers, nil body", in, r)
		}
	}
	for _, code := range []string{"100", "299", "419", "599"} {
		r, err := ParseResponse([]byte(`{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","status_code":` + code + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); !bytes.HasSuffix(got, []byte(`"status_code":`+code+`}`)) {
			t.Errorf("status %s written as %s", code, got)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	created := time.Date(2026, 11, 24, 10, 46, 53, 513656789, time.UTC)
	r := &Request{
		ID:      "4eb92bc9-2be1-4e83-9be0-b9e29dcf24c9",
		Sender:  "alice@example.com",
		URL:     "syft://bob@example.com/app_data/echo/rpc/echo",
		Body:    []byte(`{"a":1,"b":"éx?>"}`),
		Headers: map[string]string{},
		Created: created,
		Expires: time.Date(2026, 11, 24, 11, 1, 53, 513327000, time.UTC),
		Method:  "POST",
	}
	// The example from syft-rpc in ARCHITECTURE.md's brief, byte for byte.
	want := `{"id":"4eb92bc9-2be1-4e83-9be0-b9e29dcf24c9","sender":"alice@example.com","url":"syft://bob@example.com/app_data/echo/rpc/echo","body":"eyJhIjoxLCJiIjoiw6l4Pz4ifQ==","headers":{},"created":"2026-11-24T10:46:53.513656+00:00","expires":"2026-11-24T11:01:53.513327+00:00","method":"POST"}`
	if got := string(r.AppendJSON(nil)); got != want {
		t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
	}

	// Zero values write syft-rpc's defaults; nil headers write {}.
	r2 := &Request{ID: testID, Sender: "a@b.com", URL: testURL}
	got := string(r2.AppendJSON([]byte("prefix")))
	if !strings.HasPrefix(got, "prefix{") || !strings.Contains(got, `"body":null,"headers":{},"created":"0001-01-01T00:00:00+00:00"`) || !strings.HasSuffix(got, `"method":"GET"}`) {
		t.Errorf("zero request = %s", got)
	}
	resp := &Response{ID: testID, Sender: "a@b.com", URL: testURL}
	if got := string(resp.AppendJSON(nil)); !strings.HasSuffix(got, `"status_code":200}`) {
		t.Errorf("zero response = %s", got)
	}

	// Many headers are written sorted; escaping is pydantic's.
	r2.Headers = map[string]string{}
	for _, k := range []string{"z", "b", "a", "é", "<&>", "\u2028", "\x00", "\x7f", `"`, `\`, "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		r2.Headers[k] = k
	}
	got = string(r2.AppendJSON(nil))
	wantHeaders := `"headers":{"\u0000":"\u0000","\"":"\"","<&>":"<&>","\\":"\\","a":"a","b":"b","c":"c","d":"d","e":"e","f":"f","g":"g","h":"h","i":"i","j":"j","k":"k","l":"l","z":"z","` + "\x7f\":\"\x7f\",\"é\":\"é\",\"\u2028\":\"\u2028\"}"
	if !strings.Contains(got, wantHeaders) {
		t.Errorf("headers:\n got %s\nwant %s", got, wantHeaders)
	}

	// Invalid UTF-8, which no Python string holds, becomes U+FFFD.
	r2.Headers = map[string]string{"k": "a\xffb"}
	if got := string(r2.AppendJSON(nil)); !strings.Contains(got, `"k":"a`+"\uFFFD"+`b"`) {
		t.Errorf("invalid UTF-8 written as %s", got)
	}
}

func TestFormatTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2025, 11, 5, 10, 15, 30, 123456000, time.UTC), "2025-11-05T10:15:30.123456+00:00"},
		{time.Date(2025, 11, 5, 10, 15, 30, 123456999, time.UTC), "2025-11-05T10:15:30.123456+00:00"},
		{time.Date(2025, 11, 5, 10, 15, 30, 0, time.UTC), "2025-11-05T10:15:30+00:00"},
		{time.Date(2025, 11, 5, 10, 15, 30, 999, time.UTC), "2025-11-05T10:15:30+00:00"},
		{time.Date(2025, 11, 5, 10, 15, 30, 7000, time.UTC), "2025-11-05T10:15:30.000007+00:00"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("IST", 5*3600+1800)), "2025-01-02T03:04:05+05:30"},
		{time.Date(2025, 1, 2, 3, 4, 5, 100000000, time.FixedZone("", -8*3600)), "2025-01-02T03:04:05.100000-08:00"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(3*3600+17))), "2025-01-02T03:04:05-03:00:17"},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00+00:00"},
		{time.Date(999, 12, 31, 23, 59, 59, 999999000, time.UTC), "0999-12-31T23:59:59.999999+00:00"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.t); got != tt.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestParseTimeTruncates(t *testing.T) {
	// pydantic truncates digits past the microsecond: .9999999 is .999999.
	tests := map[string]int{
		"2026-01-02T03:04:05.9999999Z":    999999000,
		"2026-01-02T03:04:05.1234565Z":    123456000,
		"2026-01-02T03:04:05.123456789Z":  123456000,
		"2026-01-02T03:04:05.1234567891Z": 123456000,
		"2026-01-02T03:04:05.1Z":          100000000,
		"2026-01-02T03:04:05Z":            0,
	}
	for in, ns := range tests {
		got, msg := parseTime([]byte(in))
		if msg != "" {
			t.Fatalf("parseTime(%q): %s", in, msg)
		}
		if got.Nanosecond() != ns {
			t.Errorf("parseTime(%q) nanoseconds = %d, want %d", in, got.Nanosecond(), ns)
		}
	}
}

func TestReply(t *testing.T) {
	req := MustParseRequest(t, `{"id":"`+testID+`","sender":"a@b.com","url":"`+testURL+`?x=1","created":"2026-01-02T03:04:05Z","expires":"2026-01-02T05:04:05+02:00"}`)
	now := time.Date(2026, 1, 2, 4, 0, 0, 123456789, time.FixedZone("", 3600))
	resp := req.Reply("bob@example.com", now)
	want := `{"id":"` + testID + `","sender":"bob@example.com","url":"` + testURL + `?x=1","body":null,"headers":{},"created":"2026-01-02T03:00:00.123456+00:00","expires":"2026-01-02T05:04:05+02:00","status_code":200}`
	if got := string(resp.AppendJSON(nil)); got != want {
		t.Errorf("Reply:\n got %s\nwant %s", got, want)
	}
	if req.Expired(req.Expires) || !req.Expired(req.Expires.Add(time.Microsecond)) {
		t.Error("Expired: want false at the expiry instant, true after it")
	}
}

package syftrpc

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkParseRequest parses a typical request as syft-rpc writes it.
func BenchmarkParseRequest(b *testing.B) {
	data := MustReadFile(b, filepath.Join("testdata", "vectors", "req_json_body.request"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRequestHeaders parses a request with several headers and a
// larger body.
func BenchmarkParseRequestHeaders(b *testing.B) {
	r := &Request{
		ID: testID, Sender: "alice@example.com", URL: testURL,
		Body:    make([]byte, 1024),
		Headers: map[string]string{"Content-Type": "application/json", "X-Request-Id": "abc", "X-Trace": "00-4bf92f3577b34da6-00f067aa0ba902b7-01"},
		Created: time.Now().UTC(), Expires: time.Now().UTC().Add(time.Hour), Method: MethodPost,
	}
	data := r.AppendJSON(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRequestEncodingJSON is the baseline the hand-written decoder
// is measured against: encoding/json into a struct, with the same base64,
// UUID and time handling done after.
func BenchmarkParseRequestEncodingJSON(b *testing.B) {
	data := MustReadFile(b, filepath.Join("testdata", "vectors", "req_json_body.request"))
	type wire struct {
		ID      string            `json:"id"`
		Sender  string            `json:"sender"`
		URL     string            `json:"url"`
		Body    *string           `json:"body"`
		Headers map[string]string `json:"headers"`
		Created string            `json:"created"`
		Expires string            `json:"expires"`
		Method  *string           `json:"method"`
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var w wire
		if err := json.Unmarshal(data, &w); err != nil {
			b.Fatal(err)
		}
		r := &Request{ID: w.ID, Sender: w.Sender, URL: w.URL, Headers: w.Headers}
		if w.Body != nil {
			body, err := base64.URLEncoding.DecodeString(*w.Body)
			if err != nil {
				b.Fatal(err)
			}
			r.Body = body
		}
		var err error
		if r.Created, err = time.Parse(time.RFC3339Nano, w.Created); err != nil {
			b.Fatal(err)
		}
		if r.Expires, err = time.Parse(time.RFC3339Nano, w.Expires); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponseAppendJSON writes a typical reply.
func BenchmarkResponseAppendJSON(b *testing.B) {
	req, err := ParseRequest(MustReadFile(b, filepath.Join("testdata", "vectors", "req_json_body.request")))
	if err != nil {
		b.Fatal(err)
	}
	resp := req.Reply("bob@example.com", time.Now())
	resp.Body = req.Body
	buf := resp.AppendJSON(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = resp.AppendJSON(buf[:0])
	}
}

// BenchmarkRequestAppendJSON writes a typical request.
func BenchmarkRequestAppendJSON(b *testing.B) {
	req, err := ParseRequest(MustReadFile(b, filepath.Join("testdata", "vectors", "req_json_body.request")))
	if err != nil {
		b.Fatal(err)
	}
	buf := req.AppendJSON(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = req.AppendJSON(buf[:0])
	}
}

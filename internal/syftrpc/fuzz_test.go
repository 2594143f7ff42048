package syftrpc

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/rpcpath"
)

func MustAddVectorSeeds(f *testing.F, ext string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*"+ext))
	if err != nil || len(files) == 0 {
		f.Fatalf("no %s vectors: %v", ext, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"id":"` + testID + `","sender":"a@b.com","headers":{"X":"1"},"created":"2026-01-02T03:04:05.123456789Z","expires":"2026-01-03T03:04:05Z","method":"POST","url":"` + testURL + `","body":"eyJhIjoxfQ"}`,
		`{"id":"` + testID + `","sender":"a@b.com","url":"` + testURL + `","status_code":404,"x":[{"y":null}]}`,
		`{"id":"{` + testID + `}","sender":"a\u00e9@b.com","url":"` + testURL + `","created":"2026-01-02 03:04:05,5-03:00:17"}`,
		`{}`, `[]`, ``, `{"id":`,
	} {
		f.Add([]byte(s))
	}
}

func sameTime(a, b time.Time) bool {
	_, oa := a.Zone()
	_, ob := b.Zone()
	return a.Equal(b) && oa == ob && FormatTime(a) == FormatTime(b)
}

func sameBody(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// FuzzParseRequest checks that ParseRequest never panics, that its errors
// wrap ErrInvalidRequest, and that whatever it accepts survives a write and
// a second read unchanged.
func FuzzParseRequest(f *testing.F) {
	MustAddVectorSeeds(f, rpcpath.RequestExt)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %q does not wrap ErrInvalidRequest", err)
			}
			return
		}
		out := r.AppendJSON(nil)
		r2, err := ParseRequest(out)
		if err != nil {
			t.Fatalf("ParseRequest(AppendJSON) = %v\ninput:  %q\noutput: %q", err, data, out)
		}
		if r.ID != r2.ID || r.Sender != r2.Sender || r.URL != r2.URL || r.Method != r2.Method ||
			!sameBody(r.Body, r2.Body) || !maps.Equal(r.Headers, r2.Headers) ||
			!sameTime(r.Created, r2.Created) || !sameTime(r.Expires, r2.Expires) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", r, r2)
		}
		if out2 := r2.AppendJSON(nil); !bytes.Equal(out, out2) {
			t.Fatalf("second write differs:\n%s\n%s", out, out2)
		}
	})
}

// FuzzParseResponse is FuzzParseRequest for responses.
func FuzzParseResponse(f *testing.F) {
	MustAddVectorSeeds(f, rpcpath.ResponseExt)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("error %q does not wrap ErrInvalidResponse", err)
			}
			return
		}
		if r.StatusCode < 100 || r.StatusCode > 599 {
			t.Fatalf("StatusCode %d accepted", r.StatusCode)
		}
		out := r.AppendJSON(nil)
		r2, err := ParseResponse(out)
		if err != nil {
			t.Fatalf("ParseResponse(AppendJSON) = %v\ninput:  %q\noutput: %q", err, data, out)
		}
		if r.ID != r2.ID || r.Sender != r2.Sender || r.URL != r2.URL || r.StatusCode != r2.StatusCode ||
			!sameBody(r.Body, r2.Body) || !maps.Equal(r.Headers, r2.Headers) ||
			!sameTime(r.Created, r2.Created) || !sameTime(r.Expires, r2.Expires) {
			t.Fatalf("round trip changed the response:\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzParseURL checks that ParseURL never panics, that its errors wrap
// ErrInvalidURL, and that what it accepts reads back the same from String.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"syft://alice@openmined.org/app_data/myapp/rpc/hello",
		"syft://alice@openmined.org/app_data/myapp/rpc/api/v1/users?x=1",
		"syft://alice@openmined.org/app_data/myapp/rpc/../x", "syft://a@b.c/app_data/x/rpc/",
		"http://alice@openmined.org/app_data/myapp/rpc/hello#frag",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) && !errors.Is(err, rpcpath.ErrInvalidAppName) && !errors.Is(err, rpcpath.ErrInvalidEndpoint) {
				t.Fatalf("%q: error %q wraps no validation error", s, err)
			}
			return
		}
		u2, err := ParseURL(u.String())
		if err != nil || u2 != u {
			t.Fatalf("%q: read back %+v (%v), want %+v", s, u2, err, u)
		}
	})
}

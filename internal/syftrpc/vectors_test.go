package syftrpc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// vector is one entry of testdata/vectors/manifest.json, written by
// testdata/gen_vectors.py with the real syft-rpc.
type vector struct {
	Name                 string            `json:"name"`
	Kind                 string            `json:"kind"`
	File                 string            `json:"file"`
	ID                   string            `json:"id"`
	Sender               string            `json:"sender"`
	URL                  string            `json:"url"`
	Body                 *string           `json:"body"` // standard base64, or null
	Headers              map[string]string `json:"headers"`
	Created              string            `json:"created"`
	CreatedUnixMicro     int64             `json:"created_unix_micro"`
	CreatedOffsetSeconds int               `json:"created_offset_seconds"`
	Expires              string            `json:"expires"`
	ExpiresUnixMicro     int64             `json:"expires_unix_micro"`
	ExpiresOffsetSeconds int               `json:"expires_offset_seconds"`
	Method               string            `json:"method"`
	StatusCode           int               `json:"status_code"`
	PythonLoads          bool              `json:"python_loads"`
}

func MustReadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func MustReadFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (v vector) body(t *testing.T) []byte {
	t.Helper()
	if v.Body == nil {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(*v.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkTime(t *testing.T, field string, got time.Time, iso string, unixMicro int64, offset int) {
	t.Helper()
	if got.UnixMicro() != unixMicro {
		t.Errorf("%s: UnixMicro = %d, want %d", field, got.UnixMicro(), unixMicro)
	}
	if _, off := got.Zone(); off != offset {
		t.Errorf("%s: offset = %d, want %d", field, off, offset)
	}
	if s := FormatTime(got); s != iso {
		t.Errorf("%s: FormatTime = %q, want %q", field, s, iso)
	}
}

func checkBody(t *testing.T, got, want []byte) {
	t.Helper()
	if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
		t.Errorf("Body = %q (nil %v), want %q (nil %v)", got, got == nil, want, want == nil)
	}
}

// TestVectors parses every file syft-rpc wrote, checks each field, and
// writes it back byte for byte.
func TestVectors(t *testing.T) {
	for _, v := range MustReadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			data := MustReadFile(t, filepath.Join("testdata", "vectors", v.File))
			var (
				id, sender, url  string
				body             []byte
				headers          map[string]string
				created, expires time.Time
				out              []byte
			)
			switch v.Kind {
			case "request":
				r, err := ParseRequest(data)
				if err != nil {
					t.Fatal(err)
				}
				if r.Method != v.Method {
					t.Errorf("Method = %q, want %q", r.Method, v.Method)
				}
				id, sender, url, body, headers, created, expires = r.ID, r.Sender, r.URL, r.Body, r.Headers, r.Created, r.Expires
				out = r.AppendJSON(nil)
			case "response":
				r, err := ParseResponse(data)
				if err != nil {
					t.Fatal(err)
				}
				if r.StatusCode != v.StatusCode {
					t.Errorf("StatusCode = %d, want %d", r.StatusCode, v.StatusCode)
				}
				id, sender, url, body, headers, created, expires = r.ID, r.Sender, r.URL, r.Body, r.Headers, r.Created, r.Expires
				out = r.AppendJSON(nil)
			default:
				t.Fatalf("unknown kind %q", v.Kind)
			}
			if id != v.ID || sender != v.Sender || url != v.URL {
				t.Errorf("id, sender, url = %q, %q, %q; want %q, %q, %q", id, sender, url, v.ID, v.Sender, v.URL)
			}
			checkBody(t, body, v.body(t))
			if !maps.Equal(headers, v.Headers) || headers == nil {
				t.Errorf("Headers = %q, want %q", headers, v.Headers)
			}
			checkTime(t, "created", created, v.Created, v.CreatedUnixMicro, v.CreatedOffsetSeconds)
			checkTime(t, "expires", expires, v.Expires, v.ExpiresUnixMicro, v.ExpiresOffsetSeconds)
			if !bytes.Equal(out, data) {
				t.Errorf("AppendJSON differs from syft-rpc:\n got %s\nwant %s", out, data)
			}
		})
	}
}

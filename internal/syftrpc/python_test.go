package syftrpc

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// EnvPython names a python with syft-rpc 0.4.1 installed. When set,
// TestPythonReadsGoOutput has the real syft-rpc read what Go writes.
const EnvPython = "SYFTRPC_PYTHON"

// randString returns a string of random valid runes, weighted towards the
// characters whose escaping differs between JSON writers.
func randString(r *rand.Rand, n int) string {
	tricky := []rune{'"', '\\', '/', '<', '>', '&', '\u2028', '\u2029', 0x7f, 0, '\b', '\f', '\n', '\r', '\t', 0x1b, 'é', '😀', '\ufeff', '\uffff'}
	var b strings.Builder
	for range n {
		switch r.IntN(4) {
		case 0:
			b.WriteRune(tricky[r.IntN(len(tricky))])
		case 1:
			b.WriteByte(byte(0x20 + r.IntN(0x5f)))
		default:
			for {
				c := rune(r.IntN(utf8.MaxRune + 1))
				if utf8.ValidRune(c) {
					b.WriteRune(c)
					break
				}
			}
		}
	}
	return b.String()
}

func randTime(r *rand.Rand) time.Time {
	offsets := []int{0, 0, 3600, -8 * 3600, 5*3600 + 1800, -(9*3600 + 30*60), 14 * 3600}
	var loc *time.Location = time.UTC
	if off := offsets[r.IntN(len(offsets))]; off != 0 {
		loc = time.FixedZone("", off)
	}
	us := 0
	if r.IntN(3) > 0 {
		us = r.IntN(1000000)
	}
	return time.Date(1970+r.IntN(100), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), us*1000, loc)
}

func TestPythonReadsGoOutput(t *testing.T) {
	python := os.Getenv(EnvPython)
	if python == "" {
		t.Skipf("set %s to a python with syft-rpc 0.4.1 installed to check Go's output with it", EnvPython)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "check_go_output.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	type message struct {
		Kind       string            `json:"kind"`
		File       string            `json:"file"`
		ID         string            `json:"id"`
		Sender     string            `json:"sender"`
		URL        string            `json:"url"`
		Body       *string           `json:"body"`
		Headers    map[string]string `json:"headers"`
		Created    string            `json:"created"`
		Expires    string            `json:"expires"`
		Method     string            `json:"method,omitempty"`
		StatusCode int               `json:"status_code,omitempty"`
	}
	type entry struct {
		Endpoint string `json:"endpoint"`
		JSON     string `json:"json"`
	}
	type schema struct {
		File    string  `json:"file"`
		Entries []entry `json:"entries"`
	}
	var manifest struct {
		Messages []message `json:"messages"`
		Schemas  []schema  `json:"schemas"`
	}

	r := rand.New(rand.NewPCG(1, 2))
	// Codes syft-rpc's SyftStatus enum accepts (HTTPStatus plus 419 and
	// 499); it refuses others such as 299 or 599 even though they are valid
	// for the sidecar.
	codes := []int{100, 200, 201, 204, 400, 403, 404, 419, 499, 500, 504}
	methods := []string{MethodGet, MethodHead, MethodPost, MethodPut, MethodPatch, MethodDelete}
	for i := range 60 {
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
		var body []byte
		switch i % 4 {
		case 1:
			body = []byte{}
		case 2:
			body = make([]byte, r.IntN(300))
			for j := range body {
				body[j] = byte(r.IntN(256))
			}
		case 3:
			body = []byte(randString(r, 40))
		}
		headers := map[string]string{}
		for range r.IntN(6) {
			headers[randString(r, 1+r.IntN(10))] = randString(r, r.IntN(30))
		}
		m := message{
			ID:      id,
			Sender:  "alice@example.com",
			URL:     "syft://bob@example.com/app_data/echo/rpc/" + url0(randString(r, 8)),
			Headers: headers,
		}
		if i%5 == 0 {
			m.Sender = randString(r, 12)
		}
		created, expires := randTime(r), randTime(r)
		if i == 0 {
			created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // no fraction
		}
		m.Created, m.Expires = FormatTime(created), FormatTime(expires)
		if body != nil {
			s := base64.StdEncoding.EncodeToString(body)
			m.Body = &s
		}
		var data []byte
		if i%2 == 0 {
			m.Kind, m.File, m.StatusCode = "response", fmt.Sprintf("%d.response", i), codes[r.IntN(len(codes))]
			data = (&Response{ID: id, Sender: m.Sender, URL: m.URL, Body: body, Headers: headers,
				Created: created, Expires: expires, StatusCode: m.StatusCode}).AppendJSON(nil)
		} else {
			m.Kind, m.File, m.Method = "request", fmt.Sprintf("%d.request", i), methods[r.IntN(len(methods))]
			data = (&Request{ID: id, Sender: m.Sender, URL: m.URL, Body: body, Headers: headers,
				Created: created, Expires: expires, Method: m.Method}).AppendJSON(nil)
		}
		if err := os.WriteFile(filepath.Join(dir, m.File), data, 0o644); err != nil {
			t.Fatal(err)
		}
		manifest.Messages = append(manifest.Messages, m)
	}

	// Schemas with random strings and numbers, in the shape syft-event
	// publishes.
	for i := range 20 {
		var (
			entries []SchemaEntry
			wire    []entry
		)
		for j := range 1 + r.IntN(4) {
			var nums []string
			for range 8 {
				switch r.IntN(4) {
				case 0:
					nums = append(nums, strconv.Itoa(r.IntN(1<<30)-1<<29))
				case 1:
					nums = append(nums, strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)), 'g', -1, 64))
				case 2:
					nums = append(nums, strconv.FormatFloat(float64(r.IntN(1000))/8, 'f', r.IntN(4)+1, 64))
				default:
					nums = append(nums, strconv.FormatFloat(r.Float64(), 'e', r.IntN(20), 64))
				}
			}
			doc := fmt.Sprintf(`{"description": %s, "args": {%s: {"type": "int", "required": true}, "n": {"type": [%s]}}, "returns": {"type": "model", "schema": {}, "items": []}}`,
				jsonString(t, randString(r, 20)), jsonString(t, randString(r, 5)), strings.Join(nums, ", "))
			if !json.Valid([]byte(doc)) {
				t.Fatalf("bad test document %s", doc)
			}
			entries = append(entries, SchemaEntry{Endpoint: fmt.Sprintf("/e%d", j), JSON: doc})
			wire = append(wire, entry{Endpoint: fmt.Sprintf("/e%d", j), JSON: doc})
		}
		out, err := FormatSchema(entries)
		if err != nil {
			t.Fatal(err)
		}
		file := fmt.Sprintf("schema%d.json", i)
		if err := os.WriteFile(filepath.Join(dir, file), out, 0o644); err != nil {
			t.Fatal(err)
		}
		manifest.Schemas = append(manifest.Schemas, schema{File: file, Entries: wire})
	}

	data, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, script, dir).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("syft-rpc disagrees with Go's output: %v", err)
	}
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// url0 keeps a random endpoint name inside what syft-core's URL pattern
// accepts: anything but a newline.
func url0(s string) string { return strings.ReplaceAll(s, "\n", "n") }

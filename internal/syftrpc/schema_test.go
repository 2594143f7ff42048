package syftrpc

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatSchemaVectors compares FormatSchema with Python's
// json.dumps(indent=2), including syft-event's generate_schema output for
// handlers that take and return pydantic models (testdata/gen_vectors.py).
func TestFormatSchemaVectors(t *testing.T) {
	var cases []struct {
		Name    string        `json:"name"`
		Entries []SchemaEntry `json:"entries"`
		Want    string        `json:"want"`
	}
	if err := json.Unmarshal(MustReadFile(t, filepath.Join("testdata", "schema", "cases.json")), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no schema cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := FormatSchema(c.Entries)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.Want {
				t.Errorf("FormatSchema:\n got %s\nwant %s", got, c.Want)
			}
		})
	}
}

func TestFormatSchemaEndpoints(t *testing.T) {
	got, err := FormatSchema([]SchemaEntry{{Endpoint: "echo", JSON: `{"a":1}`}, {Endpoint: "/api/v1/x/", JSON: " \n"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"/echo\": {\n    \"a\": 1\n  },\n  \"/api/v1/x\": {\n    \"description\": null,\n    \"args\": {},\n    \"returns\": \"any\"\n  }\n}"
	if string(got) != want {
		t.Errorf("FormatSchema:\n got %s\nwant %s", got, want)
	}
}

func TestFormatSchemaRejects(t *testing.T) {
	tests := []struct {
		entry SchemaEntry
		want  string
	}{
		{SchemaEntry{"/a", `{"a":`}, "decode schema of /a: unexpected EOF"},
		{SchemaEntry{"/a", `[1]`}, "decode schema of /a: not a JSON object"},
		{SchemaEntry{"/a", `"x"`}, "decode schema of /a: not a JSON object"},
		{SchemaEntry{"/a", `{} {}`}, "decode schema of /a: data after the object"},
		{SchemaEntry{"/a", `{"a":NaN}`}, "decode schema of /a: invalid character 'N'"},
		{SchemaEntry{"/a", `{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`}, "nested too deep"},
		{SchemaEntry{"a/../b", `{}`}, `format schema: invalid endpoint "a/../b"`},
		{SchemaEntry{"", `{}`}, `format schema: invalid endpoint ""`},
	}
	for _, tt := range tests {
		_, err := FormatSchema([]SchemaEntry{tt.entry})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FormatSchema(%+v) = %v, want an error containing %q", tt.entry, err, tt.want)
		}
	}
}

func TestPyNumber(t *testing.T) {
	// Right-hand sides are what Python's json.dumps(json.loads(lit)) prints.
	tests := map[string]string{
		"0": "0", "-0": "0", "7": "7", "-12": "-12", "123456789012345678901234567890": "123456789012345678901234567890",
		"0.0": "0.0", "-0.0": "-0.0", "1.0": "1.0", "1.50": "1.5", "1e5": "100000.0", "1E+5": "100000.0",
		"1e-5": "1e-05", "1.5e-7": "1.5e-07", "0.0001": "0.0001", "0.00012": "0.00012", "1e15": "1000000000000000.0",
		"1e16": "1e+16", "1.5e16": "1.5e+16", "1234567890123456.7": "1234567890123456.8", "12345678901234567.0": "1.2345678901234568e+16",
		"0.1": "0.1", "0.3333333333333333333": "0.3333333333333333", "123456789.123456789": "123456789.12345679",
		"1e400": "Infinity", "-1e400": "-Infinity", "1e-400": "0.0", "-1e-400": "-0.0", "5e-324": "5e-324",
		"1.7976931348623157e308": "1.7976931348623157e+308", "2.5": "2.5", "100.0": "100.0", "1e22": "1e+22", "1e21": "1e+21",
	}
	for lit, want := range tests {
		if got := pyNumber(lit); got != want {
			t.Errorf("pyNumber(%s) = %s, want %s", lit, got, want)
		}
	}
}

func FuzzFormatSchema(f *testing.F) {
	f.Add(`{"description":"x","args":{"a":{"type":"int","required":true}},"returns":"any"}`)
	f.Add(`{"a":[1,2.5e3,{"b":null}],"c":"\u00e9"}`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, s string) {
		out, err := FormatSchema([]SchemaEntry{{Endpoint: "/x", JSON: s}})
		if err != nil {
			return
		}
		// The output is ASCII JSON of an object with the one endpoint,
		// except for Infinity, which Python writes and JSON lacks.
		if strings.Contains(string(out), "Infinity") {
			return
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if _, ok := v["/x"]; !ok || len(v) != 1 {
			t.Fatalf("output has not exactly /x: %s", out)
		}
		for _, c := range out {
			if c >= 0x80 {
				t.Fatalf("output is not ASCII: %s", out)
			}
		}
	})
}

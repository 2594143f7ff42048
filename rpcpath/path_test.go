package rpcpath

import "testing"

// testID is a request id as syft-rpc writes one.
const testID = "4eb92bc9-2be1-4e83-9be0-b9e29dcf24c9"

func TestParseRequestPath(t *testing.T) {
	tests := []struct {
		in   string
		want RequestPath
		ok   bool
	}{
		{"echo/alice@example.com/" + testID + ".request", RequestPath{"/echo", "alice@example.com", testID}, true},
		{"api/v1/users/Alice@Example.com/x.request", RequestPath{"/api/v1/users", "Alice@Example.com", "x"}, true},
		{"echo/" + testID + ".request", RequestPath{"/echo", "", testID}, true},
		{"api/v1/" + testID + ".request", RequestPath{"/api/v1", "", testID}, true},
		{"echo/a.b.request", RequestPath{"/echo", "", "a.b"}, true},
		// A folder with '@' that is not a valid email is still the sender
		// folder; the bridge's email comparison answers it 403.
		{"echo/not@email/x.request", RequestPath{"/echo", "not@email", "x"}, true},

		{"echo/alice@example.com/" + testID + ".response", RequestPath{}, false},
		{"echo/alice@example.com/" + testID + ".request.tmp", RequestPath{}, false},
		{"echo/alice@example.com/" + testID + ".rejected.request", RequestPath{}, false},
		{"echo/alice@example.com/" + testID + ".rejected.20250101.request", RequestPath{}, false},
		{"echo/alice@example.com/" + testID + ".syftrejected.request", RequestPath{}, false},
		{"echo/alice@example.com/" + testID + ".request.syft.tmp.123", RequestPath{}, false},
		{"echo/alice@example.com/" + testID + ".conflict.request", RequestPath{}, false},
		{"echo/alice@example.com/." + testID + ".request", RequestPath{}, false},
		{"echo/alice@example.com/.request", RequestPath{}, false},
		{"echo/.request", RequestPath{}, false},
		{testID + ".request", RequestPath{}, false},                        // no endpoint
		{"alice@example.com/" + testID + ".request", RequestPath{}, false}, // sender folder, no endpoint
		{"/echo/" + testID + ".request", RequestPath{}, false},             // absolute
		{"echo//" + testID + ".request", RequestPath{}, false},             // empty segment
		{"../echo/" + testID + ".request", RequestPath{}, false},           // escapes
		{".syft-tmp/echo/" + testID + ".request", RequestPath{}, false},    // hidden folder
		{"echo/.alice@example.com/x.request", RequestPath{}, false},        // hidden sender folder
		{"a@b.com/alice@example.com/x.request", RequestPath{}, false},      // endpoint segment with '@'
		{"echo/alice@example.com.tmp/x.request", RequestPath{}, false},     // ignored sender folder
		{"echo/sub/alice@example.com/x.request", RequestPath{"/echo/sub", "alice@example.com", "x"}, true},
		{"rpc.schema.json", RequestPath{}, false},
		{"syft.pub.yaml", RequestPath{}, false},
		{"echo/.syftkeep", RequestPath{}, false},
		{"", RequestPath{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseRequestPath(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseRequestPath(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestResponseName(t *testing.T) {
	if got := ResponseName(testID); got != testID+".response" {
		t.Errorf("ResponseName = %q", got)
	}
}

func TestIgnored(t *testing.T) {
	ignored := []string{
		".syftkeep", ".hidden", ".x.request",
		"a.syft.tmp.123", "x.request.syft.tmp.abc", "a.tmp.1", "a.tmp", "foo.request.tmp",
		".a.tmp-8cd89f7b", "data.json.tmp-abc",
		"id.rejected.request", "id.rejected.20250101T000000.request", "id.rejected",
		"a.syftrejected.request", "syftrejected", "xsyftconflictx",
		"a.conflict.request", "a.conflict.2.json", "a.conflict",
	}
	kept := []string{"", "x.request", "x.response", "syft.pub.yaml", "rpc.schema.json", "tmp", "a.tmpl", "rejected.request",
		"conflict.json", "a.temp", "tmp.request"}
	for _, name := range ignored {
		if !Ignored(name) {
			t.Errorf("Ignored(%q) = false", name)
		}
	}
	for _, name := range kept {
		if Ignored(name) {
			t.Errorf("Ignored(%q) = true", name)
		}
	}
}

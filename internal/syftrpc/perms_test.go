package syftrpc

import (
	"strings"
	"testing"
)

func TestPermissions(t *testing.T) {
	// syft-event 0.4.3's PERMS begins with a newline and ends with one.
	if !strings.HasPrefix(Permissions, "\nrules:\n") || !strings.HasSuffix(Permissions, "    - 'USER'\n") {
		t.Errorf("Permissions = %q", Permissions)
	}
	if generatedPermissions[len(generatedPermissions)-1] != Permissions {
		t.Error("the current Permissions must be the last generated version")
	}
}

func TestPermissionAction(t *testing.T) {
	tests := []struct {
		name    string
		content string
		write   bool
	}{
		{"current", Permissions, false},
		{"syft-event 0.2.2 to 0.3.0", generatedPermissions[2], true},
		{"syft-event 0.4.0 to 0.4.2 (trailing spaces)", generatedPermissions[3], true},
		{"syft-event 0.1.0 content", generatedPermissions[0], true},
		{"syft-event 0.2.0 content", generatedPermissions[1], true},
		{"current with CRLF", strings.ReplaceAll(Permissions, "\n", "\r\n"), true},
		{"current without leading newline", strings.TrimPrefix(Permissions, "\n"), true},
		{"old with trimmed lines and extra blank lines", "\n\n" + strings.ReplaceAll(generatedPermissions[3], " \n", "\n") + "\n\n", true},
		{"empty", "", true},
		{"blank", " \n\n", true},
		{"user edited", strings.Replace(Permissions, "'USER'", "'*'", 1), false},
		{"user added a rule", Permissions + "- pattern: '**/*.json'\n  access:\n    read:\n    - '*'\n", false},
		{"user comment", "# mine\n" + Permissions, false},
	}
	for _, tt := range tests {
		if got := PermissionAction([]byte(tt.content)); got != tt.write {
			t.Errorf("%s: PermissionAction = %v, want %v", tt.name, got, tt.write)
		}
	}
}

package syftrpc

import (
	"bytes"
	"slices"
)

// Permissions is the content of PermissionFile as syft-event 0.4.3 writes it
// (its PERMS, leading newline included): the schema readable by everyone, and
// each sender's own request and response folder readable and writable by that
// sender only.
const Permissions = `
rules:
- pattern: rpc.schema.json
  access:
    read:
    - '*'
- pattern: '**/{{.UserEmail}}/*.request'
  access:
    read:
    - 'USER'
    write:
    - 'USER'
- pattern: '**/{{.UserEmail}}/*.response'
  access:
    read:
    - 'USER'
    write:
    - 'USER'
`

// generatedPermissions holds every permission file a syft-event release on
// PyPI has generated (its PERMS), oldest first. A file whose content is one
// of these was never edited by a person, so it may be replaced.
var generatedPermissions = []string{
	// 0.1.0, written as syftperm.yaml (the older ACL format).
	`
- path: 'syftperm.yaml'
  user: '*'
  permissions:
    - read
- path: 'rpc.schema.json'
  user: '*'
  permissions:
    - read
- path: '**/*.request'
  user: '*'
  permissions:
    - admin
- path: '**/*.response'
  user: '*'
  permissions:
    - admin
`,
	// 0.2.0 and 0.2.1, written as syftperm.yaml.
	`
- path: 'rpc.schema.json'
  user: '*'
  permissions:
    - read
- path: '**/*.request'
  user: '*'
  permissions:
    - create
    - write
    - read
- path: '**/*.response'
  user: '*'
  permissions:
    - create
    - write
    - read
`,
	// 0.2.2 to 0.3.0, the first syft.pub.yaml: every request and response
	// readable and writable by everyone.
	`
rules:
- pattern: rpc.schema.json
  access:
    read:
    - '*'
- pattern: '**/*.request'
  access:
    read:
    - '*'
    write:
    - '*'
- pattern: '**/*.response'
  access:
    read:
    - '*'
    write:
    - '*'
`,
	// 0.4.0 to 0.4.2: the current rules, with trailing spaces after three
	// of the keys (normalize drops them).
	"\nrules:\n- pattern: rpc.schema.json\n  access:\n    read:\n    - '*'\n" +
		"- pattern: '**/{{.UserEmail}}/*.request'\n  access:\n    read:\n    - 'USER'\n    write: \n    - 'USER'\n" +
		"- pattern: '**/{{.UserEmail}}/*.response'\n  access:\n    read: \n    - 'USER'\n    write: \n    - 'USER'\n",
	// 0.4.3.
	Permissions,
}

// PermissionAction reports whether the sidecar should write Permissions over
// an existing PermissionFile with this content: yes when the content is one a
// syft-event release generated (it is upgraded) or blank (an interrupted
// write), no when it is already current or a person edited it. A missing
// file is the caller's case: write it.
//
// Generated contents are compared line by line ignoring trailing white space,
// carriage returns and blank lines at either end, so that a file that went
// through a Windows checkout or an editor that trims lines still counts as
// generated.
func PermissionAction(existing []byte) (write bool) {
	if bytes.Equal(existing, []byte(Permissions)) {
		return false
	}
	got := normalizePerms(existing)
	if len(got) == 0 {
		return true
	}
	return slices.ContainsFunc(generatedPermissions, func(g string) bool {
		return bytes.Equal(got, normalizePerms([]byte(g)))
	})
}

func normalizePerms(b []byte) []byte {
	var out []byte
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		out = append(out, bytes.TrimRight(line, " \t\r")...)
		out = append(out, '\n')
	}
	return bytes.Trim(out, "\n")
}

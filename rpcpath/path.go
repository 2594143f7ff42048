// Package rpcpath holds the naming rules of SyftBox RPC: which names an app
// and an endpoint may have, where a request file sits in an app's rpc folder
// and what its response is called, and which file names the SyftBox clients
// keep for themselves. The sidecar and its Go client both follow them, so a
// name the client accepts is one the sidecar accepts.
package rpcpath

import "strings"

// Names in an app's rpc folder.
const (
	RequestExt  = ".request"
	ResponseExt = ".response"
	// KeepFile, empty, sits in every declared endpoint folder so sync keeps
	// the folder even when it holds no request.
	KeepFile = ".syftkeep"
	// SchemaFile is the published schema of the app's endpoints.
	SchemaFile = "rpc.schema.json"
	// PermissionFile is the SyftBox ACL file of the rpc folder.
	PermissionFile = "syft.pub.yaml"
	// LegacyPermissionFile is where syft-event 0.1.0 to 0.2.1 wrote the
	// folder's permissions, in the older SyftBox format. Current SyftBox
	// clients read only PermissionFile; an old file left beside it is inert.
	LegacyPermissionFile = "syftperm.yaml"
)

// RequestPath is where a request file sits relative to an app's rpc folder.
type RequestPath struct {
	Endpoint string // canonical, as CleanEndpoint returns
	Sender   string // the sender folder; "" in the legacy layout
	ID       string // the file name without .request
}

// ParseRequestPath reads a slash-separated path relative to an app's rpc
// folder. The current layout is {endpoint...}/{sender}/{id}.request, where
// the sender folder is the one that contains '@'; the legacy layout (old
// senders, the SyftBox HTTP bridge) is {endpoint...}/{id}.request. It returns
// false for anything else: other files, names the SyftBox client uses for its
// own files (see Ignored), and paths whose endpoint CleanEndpoint refuses.
// Endpoints may be nested, so "a/b/id.request" is the legacy layout of
// endpoint /a/b; the '@' rule is what tells the layouts apart.
func ParseRequestPath(rel string) (RequestPath, bool) {
	dir, name, ok := cutLast(rel, '/')
	if !ok || !strings.HasSuffix(name, RequestExt) || Ignored(name) {
		return RequestPath{}, false
	}
	id := name[:len(name)-len(RequestExt)]
	if id == "" {
		return RequestPath{}, false
	}
	var sender string
	if parent, folder, hasParent := cutLast(dir, '/'); strings.IndexByte(folder, '@') >= 0 {
		// A sender folder straight under rpc/ has no endpoint.
		if !hasParent || folder[0] == '.' || strings.IndexByte(folder, '\\') >= 0 || Ignored(folder) {
			return RequestPath{}, false
		}
		dir, sender = parent, folder
	}
	// Refuse what CleanEndpoint would silently mend: the path is a real one.
	if dir == "" || dir[0] == '/' || dir[len(dir)-1] == '/' {
		return RequestPath{}, false
	}
	endpoint, err := CleanEndpoint(dir)
	if err != nil {
		return RequestPath{}, false
	}
	return RequestPath{Endpoint: endpoint, Sender: sender, ID: id}, true
}

// cutLast splits s around the last sep.
func cutLast(s string, sep byte) (before, after string, found bool) {
	if i := strings.LastIndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return "", s, false
}

// ResponseName is the file name of the response to request id, written
// beside the request.
func ResponseName(id string) string { return id + ResponseExt }

// Ignored reports whether a file name (a base name, not a path) is one the
// SyftBox clients use for their own files, and so is never a request or an
// event worth reporting:
//
//	hidden files (".*")                    including .syftkeep
//	*.tmp, *.tmp.*, *.syft.tmp.*           atomic-write temp files (Go client)
//	*.tmp-*                                download temp files (Rust client)
//	*.rejected, *.rejected.*               {id}.rejected.request, {id}.rejected.{stamp}.request
//	*.conflict, *.conflict.*               sync conflict copies
//	*syftrejected*, *syftconflict*         legacy markers
//
// Matching is case-sensitive, as the clients' ignore lists are.
func Ignored(name string) bool {
	if name == "" {
		return false
	}
	return name[0] == '.' ||
		strings.HasSuffix(name, ".tmp") ||
		strings.Contains(name, ".tmp.") ||
		strings.Contains(name, ".tmp-") ||
		strings.HasSuffix(name, ".rejected") ||
		strings.Contains(name, ".rejected.") ||
		strings.HasSuffix(name, ".conflict") ||
		strings.Contains(name, ".conflict.") ||
		strings.Contains(name, "syftrejected") ||
		strings.Contains(name, "syftconflict")
}

// unsynced reports whether the SyftBox Go client's default ignore list keeps
// a file or folder of this name out of sync. Those patterns have no slash, so
// they match at any depth and take everything under a matching folder with
// them: an endpoint or app of such a name would never receive a request.
// Hidden names are refused before this is asked.
func unsynced(name string) bool {
	switch name {
	case "syftignore", "__pycache__", "dist", "venv", "logs", "Icon", "Thumbds.db":
		return true
	}
	return strings.HasSuffix(name, ".log") ||
		strings.HasSuffix(name, ".pyc") ||
		strings.HasSuffix(name, ".pyo") ||
		strings.HasSuffix(name, ".pyd")
}

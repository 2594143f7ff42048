package syftrpc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/openmined/syft-sidecar/rpcpath"
)

// Validation errors wrap one of these.
var (
	ErrInvalidURL = errors.New("invalid syft url")
)

// URL is an RPC address, syft://{owner}/app_data/{app}/rpc/{endpoint}[?query].
type URL struct {
	Owner    string // the datasite's email, as written
	App      string
	Endpoint string // canonical, as rpcpath.CleanEndpoint returns: "/echo", "/api/v1/users"
	Query    string // without the '?'; syft-rpc gives it no meaning
}

// ParseURL splits an RPC URL into its parts. The owner must be an email as
// syft-core's SyftBoxURL defines it, the app a valid app name and the
// endpoint a valid endpoint (see rpcpath.CleanEndpoint; leading and trailing slashes
// are dropped, as syft-event does). Fragments are refused: a folder name
// cannot hold one and urlparse would silently drop it.
func ParseURL(s string) (URL, error) {
	bad := func(format string, args ...any) (URL, error) {
		return URL{}, fmt.Errorf("%w %s: %s", ErrInvalidURL, Quote(s), fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(s, "syft://")
	if !ok {
		return bad("want the syft:// scheme")
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x20 || c == 0x7f {
			return bad("control character")
		}
	}
	if strings.IndexByte(rest, '#') >= 0 {
		return bad("has a fragment")
	}
	rest, query, _ := strings.Cut(rest, "?")
	owner, path, _ := strings.Cut(rest, "/")
	if !rpcpath.IsEmail(owner) {
		return bad("host %q is not an email", owner)
	}
	seg, path, _ := strings.Cut(path, "/")
	if seg != "app_data" {
		return bad("want the path /app_data/{app}/rpc/{endpoint}")
	}
	app, path, _ := strings.Cut(path, "/")
	if err := rpcpath.ValidateAppName(app); err != nil {
		return bad("%v", err)
	}
	seg, path, _ = strings.Cut(path, "/")
	if seg != "rpc" {
		return bad("want the path /app_data/{app}/rpc/{endpoint}")
	}
	endpoint, err := rpcpath.CleanEndpoint(path)
	if err != nil {
		return bad("%v", err)
	}
	return URL{Owner: owner, App: app, Endpoint: endpoint, Query: query}, nil
}

// String formats u as syft-rpc's make_url does, with the query if any.
func (u URL) String() string {
	s := "syft://" + u.Owner + "/app_data/" + u.App + "/rpc" + u.Endpoint
	if u.Query != "" {
		s += "?" + u.Query
	}
	return s
}

// validSyftURL is syft-core's SyftBoxURL check,
// ^syft://([a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+)(/.*)?$ ,
// without a regexp: the host runs to the first '/', and '.' in "(/.*)" does
// not match a newline.
func validSyftURL(b []byte) bool {
	const scheme = "syft://"
	if len(b) < len(scheme) || string(b[:len(scheme)]) != scheme {
		return false
	}
	rest := b[len(scheme):]
	host := rest
	for i, c := range rest {
		if c == '/' {
			host = rest[:i]
			break
		}
	}
	if !rpcpath.IsEmail(host) {
		return false
	}
	for _, c := range rest[len(host):] {
		if c == '\n' {
			return false
		}
	}
	return true
}

// readURL reads url: a string that validSyftURL accepts.
func (d *decoder) readURL() (span, bool, error) {
	b, err := d.stringField("url", false)
	if err != nil {
		return span{}, false, err
	}
	if !validSyftURL(b) {
		return span{}, false, d.errorf("%q is not a syft:// URL with an email host: %s", "url", quote(b))
	}
	return d.keep(b), true, nil
}

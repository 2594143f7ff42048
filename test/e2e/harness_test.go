// Package e2e runs the real sidecar binary against real folders and real
// handlers connected over a unix socket.
package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// The datasite and the peer of every test (see sidecartest.Owner).
const owner, sender = sidecartest.Owner, sidecartest.Sender

func TestMain(m *testing.M) {
	defer sidecartest.RemoveBinaries()
	m.Run()
}

// env is one test's SyftBox data dir and sidecar.
type env struct {
	sidecartest.DataDir
	t       *testing.T
	sock    string
	sidecar *sidecartest.Proc
	flags   []string
}

// newEnv makes a data dir; the sidecar is started by start.
func newEnv(t *testing.T, flags ...string) *env {
	t.Helper()
	d := sidecartest.MustDataDir(t)
	return &env{DataDir: d, t: t, sock: filepath.Join(d.Path, "s.sock"), flags: flags}
}

func (e *env) addr() string { return "unix://" + e.sock }

// start runs the sidecar and waits until its socket accepts connections.
func (e *env) start() {
	e.t.Helper()
	args := append([]string{
		"--data-dir", e.Path, "--email", owner, "--listen", e.addr(),
		"--metrics-listen", "", "--log-level", "debug",
	}, e.flags...)
	e.sidecar = sidecartest.MustStartSidecar(e.t, e.sock, args...)
}

// echo starts the example echo handler for app.
func (e *env) echo(app string) *sidecartest.Proc {
	e.t.Helper()
	return sidecartest.MustStartEcho(e.t, e.addr(), app)
}

// request is a request file to drop.
type request struct {
	app, endpoint, sender string
	folder                string // sender folder; "" for sender, "-" for the legacy layout
	body                  []byte
	expires               time.Time
	url                   string // default: the endpoint's URL
	method                string
}

// encode returns the id and the file's bytes, as syft-rpc writes them.
func (r request) encode() (string, []byte) {
	id := sidecartest.NewID()
	if r.sender == "" {
		r.sender = sender
	}
	if r.url == "" {
		r.url = "syft://" + owner + "/app_data/" + r.app + "/rpc" + r.endpoint
	}
	if r.expires.IsZero() {
		r.expires = time.Now().Add(15 * time.Minute)
	}
	if r.method == "" {
		r.method = "POST"
	}
	req := syftrpc.Request{
		ID: id, Sender: r.sender, URL: r.url, Body: r.body, Headers: map[string]string{},
		Created: time.Now().UTC(), Expires: r.expires.UTC(), Method: r.method,
	}
	return id, req.AppendJSON(nil)
}

// dir is the folder the request goes into.
func (e *env) dir(r request) string {
	folder := r.folder
	switch folder {
	case "":
		folder = sender
		if r.sender != "" {
			folder = r.sender
		}
	case "-":
		folder = ""
	}
	return e.RequestDir(r.app, r.endpoint, folder)
}

// drop writes a request the way the SyftBox client delivers one and returns
// its id and path.
func (e *env) drop(r request) (string, string) {
	e.t.Helper()
	id, data := r.encode()
	return id, e.dropBytes(r, id, data)
}

// dropBytes delivers data, whatever it holds, as request id in r's folder.
func (e *env) dropBytes(r request, id string, data []byte) string {
	e.t.Helper()
	return e.MustDrop(e.t, e.dir(r), id, data)
}

func MustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func wantResponse(t *testing.T, resp *syftrpc.Response, code int, bodyContains string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, code, resp.Body)
	}
	if !strings.Contains(string(resp.Body), bodyContains) {
		t.Fatalf("body = %q, want it to contain %q", resp.Body, bodyContains)
	}
	if resp.Sender != owner {
		t.Fatalf("sender = %q, want %q", resp.Sender, owner)
	}
}

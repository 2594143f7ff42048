package sidecartest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// Every suite runs the sidecar for Owner's datasite and drops requests from
// Sender, so that a response's sender and a request's folder mean the same
// in all of them.
const (
	Owner  = "bob@example.com"
	Sender = "alice@example.com"
)

// DataDir is a SyftBox data dir served by a sidecar for Owner: where
// requests are dropped and responses appear.
type DataDir struct {
	Path string
}

// MustDataDir makes an empty data dir, removed when the test ends. Its path
// is short, unlike t.TempDir(): tests put the sidecar's unix socket in it,
// and socket paths are limited to 108 bytes.
func MustDataDir(tb testing.TB) DataDir {
	tb.Helper()
	dir, err := os.MkdirTemp("", "sb")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return DataDir{Path: dir}
}

// RPCDir is app's rpc folder.
func (d DataDir) RPCDir(app string) string {
	return filepath.Join(d.Path, "datasites", Owner, "app_data", app, "rpc")
}

// EndpointDir is the folder of one of app's endpoints, given with or without
// its leading slash ("/api/v1/echo", "echo").
func (d DataDir) EndpointDir(app, endpoint string) string {
	return filepath.Join(d.RPCDir(app), filepath.FromSlash(strings.TrimPrefix(endpoint, "/")))
}

// RequestDir is the folder sender's requests to the endpoint go in; an empty
// sender gives the legacy layout, requests straight in the endpoint folder.
func (d DataDir) RequestDir(app, endpoint, sender string) string {
	return filepath.Join(d.EndpointDir(app, endpoint), sender)
}

// MustRegistered waits until the endpoint folder's .syftkeep exists, which
// the sidecar writes when a handler declares the endpoint: requests dropped
// after that are not 404.
func (d DataDir) MustRegistered(tb testing.TB, app, endpoint string) {
	tb.Helper()
	keep := filepath.Join(d.EndpointDir(app, endpoint), ".syftkeep")
	WaitFor(tb, StartTimeout, keep, func() bool { _, err := os.Stat(keep); return err == nil })
}

// MustDrop writes data as request id in dir the way the SyftBox client
// delivers one: to {data_dir}/.syft-tmp, then renamed into place, so the
// sidecar never sees a partial file. dir is made just before the rename,
// because the sidecar's cleanup removes empty sender folders. It returns the
// request's path.
func (d DataDir) MustDrop(tb testing.TB, dir, id string, data []byte) string {
	tb.Helper()
	tmpDir := filepath.Join(d.Path, ".syft-tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp := filepath.Join(tmpDir, id+".syft.tmp.1")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, id+rpcpath.RequestExt)
	if err := os.Rename(tmp, p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// ResponsePath is where the response to the request at reqPath appears.
func ResponsePath(reqPath string) string {
	return strings.TrimSuffix(reqPath, rpcpath.RequestExt) + rpcpath.ResponseExt
}

// MustResponse waits up to within for the response to the request at
// reqPath and parses it.
func MustResponse(tb testing.TB, reqPath string, within time.Duration) *syftrpc.Response {
	tb.Helper()
	p := ResponsePath(reqPath)
	var data []byte
	WaitFor(tb, within, "response "+filepath.Base(p), func() bool {
		var err error
		data, err = os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		return err == nil
	})
	resp, err := syftrpc.ParseResponse(data)
	if err != nil {
		tb.Fatalf("parse %s: %v\n%s", p, err, data)
	}
	return resp
}

// NewID returns a random UUIDv4, the form syft-rpc gives request ids.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// A FIFO, a folder or a socket named {id}.request is never read and never
// blocks intake: requests after it, found at start or arriving later, are
// answered.
func TestNonRegularRequestNeverBlocks(t *testing.T) {
	e := newEnv(t)
	dir := e.RequestDir("echo", "/echo", sender)
	MustMkdir(t, dir)
	mkfifo := func(name string) string {
		p := filepath.Join(dir, name+".request")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// One there at start, found by the scan; one arriving while it runs.
	atStart := mkfifo(sidecartest.NewID())
	_, before := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("before")})
	e.start()
	e.echo("echo")
	wantResponse(t, sidecartest.MustResponse(t, before, 10*time.Second), 200, "before")
	live := mkfifo(sidecartest.NewID())
	MustMkdir(t, filepath.Join(dir, sidecartest.NewID()+".request"))
	_, after := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("after")})
	wantResponse(t, sidecartest.MustResponse(t, after, 10*time.Second), 200, "after")
	for _, p := range []string{atStart, live} {
		if _, err := os.Stat(sidecartest.ResponsePath(p)); !os.IsNotExist(err) {
			t.Fatalf("a FIFO was answered: %v", err)
		}
	}
}

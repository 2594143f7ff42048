package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sidecar "github.com/openmined/syft-sidecar/clients/go"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// mustTmpfs mounts a tmpfs of size bytes on dir (root only), unmounted when
// the test ends, after the processes the test starts later are gone.
func mustTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// mustFill writes to path until the filesystem is full.
func mustFill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	// The last pages of a full tmpfs: a byte at a time.
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			return
		}
	}
}

// A response that cannot be written (the disk is full) is kept and written
// within seconds once there is space again, and the handler runs once.
func TestResponseWriteRetriedWhenDiskFull(t *testing.T) {
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr)
	mustTmpfs(t, e.Path, "4m")
	e.start()
	var calls atomic.Int32
	held, release := make(chan struct{}, 1), make(chan struct{})
	e.serve("app", map[string]sidecar.HandlerFunc{
		"/echo": func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
			calls.Add(1)
			held <- struct{}{}
			<-release
			return &sidecar.Response{Body: r.Body}, nil
		},
	})
	_, p := e.drop(request{app: "app", endpoint: "/echo", body: []byte("kept")})
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never got the request")
	}
	filler := filepath.Join(e.Path, "filler")
	mustFill(t, filler)
	close(release)
	sidecartest.WaitFor(t, 10*time.Second, "a retried response write", func() bool {
		v := metric(t, maddr, "syft_sidecar_response_write_retries_total")
		return v != "" && v != "0"
	})
	if _, err := os.Stat(sidecartest.ResponsePath(p)); !os.IsNotExist(err) {
		t.Fatalf("a response on a full disk: %v", err)
	}
	if v := metric(t, maddr, "syft_sidecar_response_writes_waiting"); v != "1" {
		t.Fatalf("response_writes_waiting = %q, want 1", v)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Backoff is capped at 2s: within seconds.
	wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "kept")
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want once", n)
	}
	sidecartest.WaitFor(t, 5*time.Second, "no write waiting", func() bool {
		return metric(t, maddr, "syft_sidecar_response_writes_waiting") == "0"
	})
}

package sidecartest

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// StartTimeout bounds the wait for a started sidecar to accept connections
// and for a started handler to register: seconds of slack over what takes
// milliseconds, so that only something broken reaches it.
const StartTimeout = 10 * time.Second

// MustStartSidecar starts the sidecar with args and waits until the unix
// socket sock, where args make it listen, accepts connections: from then on a
// handler connects at its first try.
func MustStartSidecar(tb testing.TB, sock string, args ...string) *Proc {
	tb.Helper()
	bin := MustBuild(tb).Sidecar
	p := startLocked(tb, func() *Proc { return MustStart(tb, exec.Command(bin, args...)) })
	WaitFor(tb, StartTimeout, "sidecar socket "+sock, func() bool {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

// MustStartEcho starts the example echo handler serving app's /echo through
// the sidecar at addr.
func MustStartEcho(tb testing.TB, addr, app string) *Proc {
	tb.Helper()
	return MustStart(tb, exec.Command(MustBuild(tb).Echo, "--sidecar", addr, "--app", app))
}

// WaitFor polls cond until it holds, failing the test after within.
func WaitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FreeAddr returns a loopback TCP address nothing listens on right now, for
// a sidecar's --listen or --metrics-listen.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

//go:build unix

package main

import (
	"net"
	"os"
	"syscall"
)

// listenUnix listens on the unix socket path with permissions mode.
// Nothing else runs yet, so the process-wide umask is ours to narrow: the
// socket never exists with wider permissions.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	old := syscall.Umask(int(0o777 &^ mode))
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}

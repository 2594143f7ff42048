package main

import (
	"net"
	"os"
)

// listenUnix listens on the unix socket path (AF_UNIX, Windows 10 1803 and
// later). File modes do not apply on Windows: who may connect is decided by
// the access control list the socket inherits from its folder (under the
// user's profile: the user, SYSTEM and Administrators). flags.go refuses a
// --socket-mode other than 0600 here, so that none is taken for a promise.
func listenUnix(path string, _ os.FileMode) (net.Listener, error) {
	return net.Listen("unix", path)
}

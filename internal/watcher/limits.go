package watcher

import (
	"errors"
	"fmt"
	"syscall"
)

// errNoDescriptors explains a watch that failed for want of file
// descriptors. kqueue (macOS, the BSDs) holds one open for every watched
// folder and for every file in it, so a tree of many files can use them all;
// inotify (Linux) holds none per watch, Windows one handle per folder.
var errNoDescriptors = errors.New("out of file descriptors: on macOS every watched folder and file holds one; raise the open files limit (ulimit -n, launchctl limit maxfiles) or keep fewer files (a shorter --cleanup-expiry)")

// describe adds errNoDescriptors to err when err is EMFILE or ENFILE.
func describe(err error) error {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return fmt.Errorf("%w (%w)", err, errNoDescriptors)
	}
	return err
}

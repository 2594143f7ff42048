//go:build unix

package safefs

import (
	"errors"
	"os"
	"syscall"
)

// readFlags open a file for reading without waiting: a FIFO swapped in
// after the Lstat opens at once, and is then refused by its type. There is
// no O_NOFOLLOW: os.Root follows a link inside the root whatever the flags
// say (Go 1.26), which is why ReadFile compares what it opened with what it
// looked at.
const readFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// announceFlags open a response just written to rewrite its first byte,
// without waiting on whatever may have been put in its place.
const announceFlags = os.O_WRONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// linkCount is the number of names the open file f has.
func linkCount(_ *os.File, fi os.FileInfo) (uint64, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no link count")
	}
	return uint64(st.Nlink), nil
}

// linkUnsupported says that err is a filesystem's refusal of hard links.
func linkUnsupported(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}

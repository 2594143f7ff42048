package safefs

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameExclusive renames from to to in dir in one step, unless to exists
// (renameatx_np with RENAME_EXCL, macOS 10.12 and later).
func renameExclusive(dir *os.Root, from, to string) error {
	return renameAt(dir, func(fd int) error {
		return unix.RenameatxNp(fd, from, fd, to, unix.RENAME_EXCL)
	})
}

package safefs

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameExclusive renames from to to in dir in one step, unless to exists.
// Linux uses root_linux.go's Root; this serves the portable one's tests.
func renameExclusive(dir *os.Root, from, to string) error {
	return renameAt(dir, func(fd int) error {
		return unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
	})
}

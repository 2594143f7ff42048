//go:build darwin || linux

package safefs

import (
	"os"
	"syscall"
)

// renameAt calls rename with the descriptor of dir, to rename inside it.
func renameAt(dir *os.Root, rename func(fd int) error) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	if err := rc.Control(func(fd uintptr) { rerr = rename(int(fd)) }); err != nil {
		return err
	}
	if rerr == syscall.EEXIST {
		return os.ErrExist
	}
	return rerr
}

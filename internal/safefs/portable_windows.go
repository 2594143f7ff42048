package safefs

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// readFlags: Windows keeps no FIFOs or devices in folders, so nothing
// opened there can block.
const readFlags = os.O_RDONLY

// announceFlags open a response just written to rewrite its first byte.
const announceFlags = os.O_WRONLY

// linkCount is the number of names the open file f has.
func linkCount(f *os.File, _ os.FileInfo) (uint64, error) {
	var d windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &d); err != nil {
		return 0, err
	}
	return uint64(d.NumberOfLinks), nil
}

// linkUnsupported says that err is a filesystem's refusal of hard links
// (FAT, exFAT, some network shares).
func linkUnsupported(err error) bool {
	return errors.Is(err, windows.ERROR_NOT_SUPPORTED) || errors.Is(err, windows.ERROR_INVALID_FUNCTION)
}

// renameExclusive renames from to to in dir unless to exists: MoveFileEx
// without MOVEFILE_REPLACE_EXISTING (os.Rename passes it, and replaces).
// It goes by path, not by dir's handle: a folder on the way swapped for a
// junction between the check and the move is not caught here.
func renameExclusive(dir *os.Root, from, to string) error {
	f, err := windows.UTF16PtrFromString(filepath.Join(dir.Name(), from))
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(filepath.Join(dir.Name(), to))
	if err != nil {
		return err
	}
	err = windows.MoveFileEx(f, t, windows.MOVEFILE_WRITE_THROUGH)
	if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
		return os.ErrExist
	}
	return err
}

// Package safefs reads and writes files beneath one folder without ever
// leaving it or passing through a symbolic link, whatever a synced peer put
// in the tree. Responses are created atomically and never replace a file.
//
// Root is openat2-based on Linux (root_linux.go) and built on os.Root
// elsewhere (portable.go); the README's Platforms section says which
// guarantee holds where.
package safefs

import (
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Errors the methods return, wrapped in an *os.PathError.
var (
	// ErrExist means the file being created already exists; nothing was written.
	ErrExist = os.ErrExist
	// ErrNotRegular means the file read is a FIFO, a device, a socket or a
	// folder: nothing was read from it.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge means the file is longer than the reader allows; no more
	// than that was read.
	ErrTooLarge = errors.New("file too large")
	// ErrLinked means the file has more than one name (a hard link): its
	// content may be a file from outside the root, so it is not read.
	ErrLinked = errors.New("file has more than one link")
)

// errReplaced: the file just written is no longer under its name when its
// write event is due, so nothing is written (the replacement made its own
// events).
var errReplaced = errors.New("file changed before its write event")

// Entry is one name in a folder, as ReadDir returns it.
type Entry struct {
	Name    string
	Dir     bool // a folder (never a link to one)
	Regular bool // a regular file (never a link to one)
	ModTime time.Time
	Size    int64
}

// Stamp tells one content of a file from another as far as its
// modification time and size can: a file rewritten or replaced has another
// stamp, unless it has the same size and its time was set back to the
// nanosecond.
type Stamp struct {
	ModTime time.Time
	Size    int64
}

// Stamp is the entry's stamp, as ReadFileStamp gives it for the same file.
func (e Entry) Stamp() Stamp { return Stamp{ModTime: e.ModTime, Size: e.Size} }

var tmpSeq atomic.Uint64

// tmpName names the temporary file that becomes name. Hidden and ending in
// .tmp: both the sidecar and the SyftBox client ignore it, so a crash leaves
// nothing that is read or synced.
func tmpName(name string) string {
	return "." + name + "." + strconv.FormatUint(uint64(os.Getpid()), 36) + "-" + strconv.FormatUint(tmpSeq.Add(1), 36) + ".tmp"
}

// Linux's Root: openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS lets the
// kernel refuse links and "..", in one call per name.

package safefs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Root is an open folder. Paths given to its methods are slash-separated and
// relative to it; ".." and symbolic links anywhere on the way are refused.
type Root struct {
	path string
	fd   int
}

// OpenRoot opens dir. dir itself may be reached through symbolic links: it is
// configuration, not something a peer controls.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Root{path: dir, fd: fd}, nil
}

// Path is the folder's path as opened.
func (r *Root) Path() string { return r.path }

// Close releases the folder.
func (r *Root) Close() error { return unix.Close(r.fd) }

// openat2 is off once the kernel has said it lacks it (before Linux 5.6, or
// in sandboxes that filter it); the component walk does the same job slower.
var noOpenat2 atomic.Bool

func (r *Root) open(rel string, flags int, mode uint32) (int, error) {
	if rel == "" || rel == "." {
		return openat(r.fd, ".", flags|unix.O_CLOEXEC, mode)
	}
	if path.IsAbs(rel) || rel != path.Clean(rel) || strings.HasPrefix(rel, "../") || rel == ".." {
		return -1, fmt.Errorf("path %q is not beneath the root", rel)
	}
	if !noOpenat2.Load() {
		how := &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		fd, err := openat2(r.fd, rel, how)
		// EAGAIN: a rename elsewhere raced the lookup; the kernel asks for a retry.
		for i := 0; i < 8 && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)); i++ {
			fd, err = openat2(r.fd, rel, how)
		}
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fd, err
		}
		noOpenat2.Store(true)
	}
	return r.walk(rel, flags, mode)
}

// walk opens rel one component at a time with O_NOFOLLOW.
func (r *Root) walk(rel string, flags int, mode uint32) (int, error) {
	parts := strings.Split(rel, "/")
	dir := r.fd
	for i, p := range parts {
		last := i == len(parts)-1
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		var m uint32
		if last {
			f, m = flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode
		}
		fd, err := unix.Openat(dir, p, f, m)
		if dir != r.fd {
			unix.Close(dir)
		}
		if err != nil {
			return -1, err
		}
		dir = fd
	}
	return dir, nil
}

// ReadFile reads a regular file of at most limit bytes. It never blocks on
// what is not one: the file is opened without waiting (a FIFO opens at once
// and nothing is read from it) and judged by the type of what was opened,
// so a swap between a check and the open changes nothing. A longer file is
// refused with ErrTooLarge, having read at most limit+1 bytes of it. A file
// with another name too is refused with ErrLinked: a hard link can bring in
// any file of the same filesystem that its maker could read, and openat2's
// rules, which stop symbolic links, cannot tell.
func (r *Root) ReadFile(rel string, limit int64) ([]byte, error) {
	b, _, err := r.ReadFileStamp(rel, limit)
	return b, err
}

// ReadFileStamp is ReadFile that also gives the stamp of the file it read,
// taken when it was opened.
func (r *Root) ReadFileStamp(rel string, limit int64) ([]byte, Stamp, error) {
	fd, err := r.open(rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, Stamp{}, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, Stamp{}, &os.PathError{Op: "stat", Path: rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrNotRegular}
	}
	if st.Nlink > 1 {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrLinked}
	}
	if st.Size > limit {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrTooLarge}
	}
	stamp := Stamp{ModTime: time.Unix(st.Mtim.Unix()), Size: st.Size}
	// One read, sized by fstat, takes the whole file: for a regular file a
	// read returns less than asked only at its end. A file that grew since
	// (the read filled the byte past its size) or came up short of it (a
	// writer truncating it) is read on to its end, at most one byte past
	// the limit.
	buf := make([]byte, min(st.Size+1, limit+1))
	for n := 0; ; {
		if int64(n) > limit {
			return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrTooLarge}
		}
		if n == len(buf) {
			buf = append(buf, 0)
			buf = buf[:min(int64(cap(buf)), limit+1)]
		}
		m, err := unix.Read(fd, buf[n:])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: err}
		}
		n += m
		if m == 0 || int64(n) == st.Size && n < len(buf) {
			return buf[:n], stamp, nil
		}
	}
}

// Exists says whether rel exists. It is one fstatat from the root: links
// on the way are followed, which is harmless for a yes-or-no answer that
// only spares work (nothing is read or written through it).
func (r *Root) Exists(rel string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(r.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	return err == nil, err
}

// CreateNew writes data to rel atomically, never replacing anything: as an
// unnamed file linked in when complete (O_TMPFILE), or where that is not to
// be had, a hidden temporary file renamed into place. If rel exists it
// returns ErrExist and leaves it as it was. Once in place the file gets a
// write event with its bytes unchanged (announceWrite), so that the SyftBox
// client sends it at once.
func (r *Root) CreateNew(rel string, data []byte, perm uint32) error {
	return r.write(rel, data, perm, false)
}

// WriteFile writes data to rel atomically, replacing what is there.
func (r *Root) WriteFile(rel string, data []byte, perm uint32) error {
	return r.write(rel, data, perm, true)
}

func (r *Root) write(rel string, data []byte, perm uint32, replace bool) error {
	dir, name := path.Split(rel)
	dfd, err := r.open(strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	if !replace && !noTmpfile.Load() {
		err := linkTmpfile(dfd, name, data, perm)
		if !errors.Is(err, errNoTmpfile) {
			if errors.Is(err, unix.EEXIST) {
				return ErrExist
			}
			if err != nil {
				return &os.PathError{Op: "create", Path: rel, Err: err}
			}
			return nil
		}
		noTmpfile.Store(true)
	}
	tmp := tmpName(name)
	fd, err := openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return &os.PathError{Op: "create", Path: path.Join(dir, tmp), Err: err}
	}
	var st unix.Stat_t
	if err := writeAll(fd, data); err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err != nil {
		unix.Close(fd)
		unix.Unlinkat(dfd, tmp, 0)
		return &os.PathError{Op: "write", Path: path.Join(dir, tmp), Err: err}
	}
	if err := unix.Close(fd); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return &os.PathError{Op: "close", Path: path.Join(dir, tmp), Err: err}
	}
	if replace {
		err = unix.Renameat(dfd, tmp, dfd, name)
	} else {
		err = renameNoReplace(dfd, tmp, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		if errors.Is(err, unix.EEXIST) {
			return ErrExist
		}
		return &os.LinkError{Op: "rename", Old: tmp, New: rel, Err: err}
	}
	if !replace && len(data) > 0 {
		announceWrite(dfd, name, &st, data[0])
	}
	return nil
}

// noTmpfile is set once O_TMPFILE or the /proc link has failed: some
// filesystems lack the one, some containers the other.
var noTmpfile atomic.Bool

var errNoTmpfile = errors.New("O_TMPFILE unavailable")

// linkTmpfile writes data to an unnamed file in the folder and links it in
// under name, which fails if name exists. Until the link the file has no
// name, so no watcher sees it partly written, and a crash leaves nothing
// behind. The link goes through /proc/self/fd because linkat's AT_EMPTY_PATH
// needs a capability a sidecar should not have.
func linkTmpfile(dfd int, name string, data []byte, perm uint32) error {
	fd, err := openat(dfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, perm)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return errNoTmpfile
		}
		return err
	}
	defer unix.Close(fd)
	if err := writeAll(fd, data); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	err = linkFd(fd, dfd, name)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return errNoTmpfile
	}
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return errNoTmpfile // no /proc in this container
		}
	}
	if err != nil {
		return err
	}
	// Not a write through fd: that descriptor still belongs to the nameless
	// entry O_TMPFILE made, so its event would not carry the file's name
	// (inotify names it "#{inode}").
	if len(data) > 0 {
		announceWrite(dfd, name, &st, data[0])
	}
	return nil
}

var noRenameat2 atomic.Bool

// renameNoReplace renames in one step where the filesystem can refuse to
// replace (renameat2 RENAME_NOREPLACE), else links and unlinks, which is just
// as safe: link fails if the name exists.
func renameNoReplace(dfd int, from, to string) error {
	if !noRenameat2.Load() {
		err := unix.Renameat2(dfd, from, dfd, to, unix.RENAME_NOREPLACE)
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
			return err
		}
		noRenameat2.Store(true)
	}
	if err := unix.Linkat(dfd, from, dfd, to, 0); err != nil {
		return err
	}
	return unix.Unlinkat(dfd, from, 0)
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}

// MkdirAll creates rel and its parents beneath the root, refusing links.
func (r *Root) MkdirAll(rel string, perm uint32) error {
	if rel == "" || rel == "." {
		return nil
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fd, err := r.open(p, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return &os.PathError{Op: "mkdir", Path: p, Err: err}
		}
		parent, name := path.Split(p)
		dfd, err := r.open(strings.TrimSuffix(parent, "/"), unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return &os.PathError{Op: "mkdir", Path: p, Err: err}
		}
		err = unix.Mkdirat(dfd, name, perm)
		unix.Close(dfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: p, Err: err}
		}
	}
	return nil
}

// OpenRoot opens a folder beneath r as a Root of its own.
func (r *Root) OpenRoot(rel string) (*Root, error) {
	fd, err := r.open(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	return &Root{path: path.Join(r.path, rel), fd: fd}, nil
}

// ReadDir lists the folder rel with each entry's type and modification
// time, without following links.
func (r *Root) ReadDir(rel string) ([]Entry, error) {
	fd, err := r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &os.PathError{Op: "readdir", Path: rel, Err: err}
	}
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone meanwhile
		}
		out = append(out, Entry{
			Name:    n,
			Dir:     st.Mode&unix.S_IFMT == unix.S_IFDIR,
			Regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
			ModTime: time.Unix(st.Mtim.Unix()),
			Size:    st.Size,
		})
	}
	return out, nil
}

// Remove deletes the file rel (a link is deleted, never followed). A file
// that is already gone is not an error.
func (r *Root) Remove(rel string) error { return r.unlink(rel, 0) }

// RemoveEmptyDir deletes the folder rel if it is empty; a folder with
// anything in it is left and reported with an error wrapping ENOTEMPTY.
func (r *Root) RemoveEmptyDir(rel string) error { return r.unlink(rel, unix.AT_REMOVEDIR) }

func (r *Root) unlink(rel string, flags int) error {
	dir, name := path.Split(rel)
	dfd, err := r.open(strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "remove", Path: rel, Err: err}
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: rel, Err: err}
	}
	return nil
}

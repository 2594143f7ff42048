package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"syscall"
)

// portableRoot is Root where openat2 is missing: macOS, Windows and the
// BSDs. It is built for every platform so that its tests run on Linux too.
//
// os.Root keeps every operation beneath the folder, but it follows symbolic
// links that stay inside it. So each name on the way is looked at with
// Lstat first (a link is refused), then opened, and what was opened is
// compared with what was looked at (os.SameFile): a name swapped for a link
// in between is refused too, not followed.
type portableRoot struct {
	path string
	root *os.Root
}

func openPortableRoot(dir string) (*portableRoot, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &portableRoot{path: dir, root: r}, nil
}

// Path is the folder's path as opened.
func (r *portableRoot) Path() string { return r.path }

// Close releases the folder.
func (r *portableRoot) Close() error { return r.root.Close() }

// beneath refuses what is not a clean relative path: os.Root would resolve
// ".." inside the root, which Linux's Root refuses.
func beneath(rel string) error {
	if path.IsAbs(rel) || rel != path.Clean(rel) || strings.HasPrefix(rel, "../") || rel == ".." || strings.Contains(rel, "\\") {
		return fmt.Errorf("path %q is not beneath the root", rel)
	}
	return nil
}

// openDir opens the folder rel one name at a time, refusing links; the
// caller closes it.
func (r *portableRoot) openDir(rel string) (*os.Root, error) {
	dir, err := r.root.OpenRoot(".")
	if err != nil {
		return nil, err
	}
	if rel == "" || rel == "." {
		return dir, nil
	}
	if err := beneath(rel); err != nil {
		dir.Close()
		return nil, err
	}
	for _, name := range strings.Split(rel, "/") {
		sub, err := openSubdir(dir, name)
		dir.Close()
		if err != nil {
			return nil, err
		}
		dir = sub
	}
	return dir, nil
}

// bare is err without the *os.PathError that os.Root wraps it in, so that
// errors name the whole path once.
func bare(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// openSubdir opens the folder name in dir if it is one, and not a link.
func openSubdir(dir *os.Root, name string) (*os.Root, error) {
	fi, err := dir.Lstat(name)
	if err != nil {
		return nil, bare(err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, syscall.ELOOP
	}
	if !fi.IsDir() {
		return nil, syscall.ENOTDIR
	}
	sub, err := dir.OpenRoot(name)
	if err != nil {
		return nil, bare(err)
	}
	got, err := sub.Stat(".")
	if err == nil && !os.SameFile(fi, got) {
		err = syscall.ELOOP // swapped for a link since the Lstat
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// split opens rel's folder and returns it with rel's last name.
func (r *portableRoot) split(rel string) (*os.Root, string, error) {
	if err := beneath(rel); err != nil {
		return nil, "", err
	}
	dir, name := path.Split(rel)
	d, err := r.openDir(strings.TrimSuffix(dir, "/"))
	return d, name, err
}

// ReadFile reads a regular file of at most limit bytes. What is not one (a
// FIFO, a device, a folder) is refused with ErrNotRegular before it is
// opened, and again by the type of what was opened, which is opened without
// waiting; a file with another name too is refused with ErrLinked, and a
// longer one with ErrTooLarge, having read at most limit+1 bytes of it.
func (r *portableRoot) ReadFile(rel string, limit int64) ([]byte, error) {
	b, _, err := r.ReadFileStamp(rel, limit)
	return b, err
}

// ReadFileStamp is ReadFile that also gives the stamp of the file it read,
// taken when it was opened.
func (r *portableRoot) ReadFileStamp(rel string, limit int64) ([]byte, Stamp, error) {
	dir, name, err := r.split(rel)
	if err != nil {
		return nil, Stamp{}, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer dir.Close()
	fi, err := dir.Lstat(name)
	if err != nil {
		return nil, Stamp{}, &os.PathError{Op: "open", Path: rel, Err: bare(err)}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, Stamp{}, &os.PathError{Op: "open", Path: rel, Err: syscall.ELOOP}
	}
	if !fi.Mode().IsRegular() {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrNotRegular}
	}
	f, err := dir.OpenFile(name, readFlags, 0)
	if err != nil {
		return nil, Stamp{}, &os.PathError{Op: "open", Path: rel, Err: bare(err)}
	}
	defer f.Close()
	got, err := f.Stat()
	if err != nil {
		return nil, Stamp{}, &os.PathError{Op: "stat", Path: rel, Err: err}
	}
	if !got.Mode().IsRegular() {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrNotRegular}
	}
	if !os.SameFile(fi, got) {
		return nil, Stamp{}, &os.PathError{Op: "open", Path: rel, Err: syscall.ELOOP}
	}
	if n, err := linkCount(f, got); err != nil {
		return nil, Stamp{}, &os.PathError{Op: "stat", Path: rel, Err: err}
	} else if n > 1 {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrLinked}
	}
	if got.Size() > limit {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrTooLarge}
	}
	// The file may grow while it is read: the read stops one byte past the
	// limit.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, Stamp{}, &os.PathError{Op: "read", Path: rel, Err: ErrTooLarge}
	}
	return b, Stamp{ModTime: got.ModTime(), Size: got.Size()}, nil
}

// Exists says whether rel exists. Links on the way are followed (inside
// the root only), which is harmless for a yes-or-no answer that only spares
// work.
func (r *portableRoot) Exists(rel string) (bool, error) {
	if err := beneath(rel); err != nil {
		return false, err
	}
	_, err := r.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	return err == nil, err
}

// CreateNew writes data to rel atomically, never replacing anything: a
// hidden temporary file is written, then linked in under rel (which fails
// if rel exists) and unlinked. If rel exists it returns ErrExist and leaves
// it as it was.
func (r *portableRoot) CreateNew(rel string, data []byte, perm uint32) error {
	return r.write(rel, data, perm, false)
}

// WriteFile writes data to rel atomically, replacing what is there.
func (r *portableRoot) WriteFile(rel string, data []byte, perm uint32) error {
	return r.write(rel, data, perm, true)
}

// noLink is set once a hard link has failed for want of support (FAT,
// exFAT, some network shares); the platform's rename that refuses to
// replace does the job instead.
var noLink atomic.Bool

func (r *portableRoot) write(rel string, data []byte, perm uint32, replace bool) error {
	dir, name, err := r.split(rel)
	if err != nil {
		return &os.PathError{Op: "open", Path: path.Dir(rel), Err: err}
	}
	defer dir.Close()
	tmp := tmpName(name)
	// O_EXCL: os.Root never follows a link when it creates.
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(perm))
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	var written fs.FileInfo
	if err == nil {
		written, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dir.Remove(tmp)
		return &os.PathError{Op: "write", Path: path.Join(path.Dir(rel), tmp), Err: err}
	}
	switch {
	case replace:
		err = dir.Rename(tmp, name)
	case !noLink.Load():
		err = dir.Link(tmp, name)
		if err != nil && linkUnsupported(err) {
			noLink.Store(true)
			err = renameExclusive(dir, tmp, name)
			break
		}
		if err == nil {
			// The response is in place: a temporary name left behind by a
			// failed unlink is a crash's leftover, which cleanup removes.
			dir.Remove(tmp)
			announceWritten(dir, name, written, data)
			return nil
		}
	default:
		err = renameExclusive(dir, tmp, name)
	}
	if err != nil {
		dir.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return ErrExist
		}
		return &os.LinkError{Op: "rename", Old: tmp, New: rel, Err: err}
	}
	if !replace {
		announceWritten(dir, name, written, data)
	}
	return nil
}

// announceWritten gives the file just linked or renamed in under name a
// write event with its bytes unchanged, as announceWrite does on Linux,
// which says why: the SyftBox client sends a response at once only on a
// write event. On macOS a write through a descriptor is a content change
// that FSEvents reports as ItemModified for the path. want is the file as
// written; a file that is no longer it under name, or not a regular file,
// is left alone, as is one of another size (truncated meanwhile). Any
// failure leaves a complete file that the standard sync still sends, so it
// is not reported.
func announceWritten(dir *os.Root, name string, want fs.FileInfo, data []byte) error {
	if want.Size() == 0 || len(data) == 0 {
		return nil
	}
	fi, err := dir.Lstat(name)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, want) {
		return errReplaced
	}
	f, err := dir.OpenFile(name, announceFlags, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// os.Root follows a link inside the root: compare what was opened.
	if got, err := f.Stat(); err != nil || !os.SameFile(got, want) || got.Size() != want.Size() {
		return errReplaced
	}
	_, err = f.WriteAt(data[:1], 0)
	return err
}

// MkdirAll creates rel and its parents beneath the root, refusing links.
func (r *portableRoot) MkdirAll(rel string, perm uint32) error {
	if rel == "" || rel == "." {
		return nil
	}
	if err := beneath(rel); err != nil {
		return err
	}
	dir, err := r.root.OpenRoot(".")
	if err != nil {
		return err
	}
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		sub, err := openSubdir(dir, name)
		if errors.Is(err, fs.ErrNotExist) {
			if err = dir.Mkdir(name, fs.FileMode(perm)); err == nil || errors.Is(err, fs.ErrExist) {
				sub, err = openSubdir(dir, name)
			}
		}
		dir.Close()
		if err != nil {
			return &os.PathError{Op: "mkdir", Path: strings.Join(parts[:i+1], "/"), Err: bare(err)}
		}
		dir = sub
	}
	return dir.Close()
}

// OpenRoot opens a folder beneath r as a Root of its own.
func (r *portableRoot) OpenRoot(rel string) (*portableRoot, error) {
	d, err := r.openDir(rel)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	return &portableRoot{path: path.Join(r.path, rel), root: d}, nil
}

// ReadDir lists the folder rel with each entry's type and modification
// time, without following links.
func (r *portableRoot) ReadDir(rel string) ([]Entry, error) {
	dir, err := r.openDir(rel)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer dir.Close()
	f, err := dir.Open(".")
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, &os.PathError{Op: "readdir", Path: rel, Err: err}
	}
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		fi, err := dir.Lstat(n)
		if err != nil {
			continue // gone meanwhile
		}
		out = append(out, Entry{
			Name:    n,
			Dir:     fi.IsDir(),
			Regular: fi.Mode().IsRegular(),
			ModTime: fi.ModTime(),
			Size:    fi.Size(),
		})
	}
	return out, nil
}

// Remove deletes the file rel (a link is deleted, never followed). A file
// that is already gone is not an error.
func (r *portableRoot) Remove(rel string) error { return r.remove(rel, false) }

// RemoveEmptyDir deletes the folder rel if it is empty; a folder with
// anything in it is left and reported with an error.
func (r *portableRoot) RemoveEmptyDir(rel string) error { return r.remove(rel, true) }

func (r *portableRoot) remove(rel string, isDir bool) error {
	dir, name, err := r.split(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: rel, Err: err}
	}
	defer dir.Close()
	fi, err := dir.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// os.Root.Remove removes a file or an empty folder alike: the type is
	// checked first (a race can at worst remove an empty folder).
	if fi.IsDir() != isDir {
		e := syscall.EISDIR
		if isDir {
			e = syscall.ENOTDIR
		}
		return &os.PathError{Op: "remove", Path: rel, Err: e}
	}
	if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

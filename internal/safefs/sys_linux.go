package safefs

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of a request's read and its response's write, with their
// paths passed from the stack: x/sys/unix copies every path it is given to
// the heap, which was most of what safefs allocated per request.

// cstr holds a path as the kernel takes it, NUL-terminated, on the caller's
// stack. Names past its size (rare: a request path is about 100 bytes) take
// x/sys/unix's heap copy.
type cstr [512]byte

// of returns s as a C string, in b when it fits.
func (b *cstr) of(s string) (*byte, error) {
	if len(s) >= len(b) {
		return unix.BytePtrFromString(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, unix.EINVAL
		}
	}
	copy(b[:], s)
	b[len(s)] = 0
	return &b[0], nil
}

// procFd is /proc/self/fd/{fd}: the name linkat gives an O_TMPFILE file.
func (b *cstr) procFd(fd int) *byte {
	n := copy(b[:], "/proc/self/fd/")
	n += len(strconv.AppendInt(b[n:n], int64(fd), 10))
	b[n] = 0
	return &b[0]
}

// cwd is AT_FDCWD as a variable: a negative constant does not convert to uintptr.
var cwd = unix.AT_FDCWD

func errno(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func openat2(dirfd int, name string, how *unix.OpenHow) (int, error) {
	var b cstr
	p, err := b.of(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(how)), unsafe.Sizeof(*how), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	var b cstr
	p, err := b.of(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(mode), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// linkFd links the open file fd (an O_TMPFILE one) in as name in dirfd,
// failing if name exists.
func linkFd(fd, dirfd int, name string) error {
	var from, to cstr
	p, err := to.of(name)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_LINKAT, uintptr(cwd), uintptr(unsafe.Pointer(from.procFd(fd))), uintptr(dirfd), uintptr(unsafe.Pointer(p)), unix.AT_SYMLINK_FOLLOW, 0)
	return errno(e)
}

package floorfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
	"golang.org/x/sys/unix"
)

// Responder answers the requests of one folder. Its methods are not safe for
// concurrent use: each worker takes its own from Worker.
type Responder struct {
	root  int    // the rpc folder, O_PATH
	dir   string // the request folder, relative to root
	owner string
	buf   []byte // the response being written
	own   bool   // root is this Responder's to close
}

// Open holds root (the app's rpc folder) and answers, as owner, requests in
// dir, a folder beneath it given relative to it.
func Open(root, dir, owner string) (*Responder, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &Responder{root: fd, dir: dir, owner: owner, own: true}, nil
}

// Worker is another Responder over the same root, for another goroutine.
func (r *Responder) Worker() *Responder {
	return &Responder{root: r.root, dir: r.dir, owner: r.owner}
}

// Close releases the root (only the Responder from Open holds it).
func (r *Responder) Close() error {
	if !r.own {
		return nil
	}
	return unix.Close(r.root)
}

var beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// Answer reads the request name ({id}.request) and writes its echo as
// {id}.response beside it.
func (r *Responder) Answer(name string) error { return r.AnswerVia(name, echo) }

// echo is Answer's body: the request's own. A function, not a closure, so
// that the floor allocates nothing for it.
func echo(req *syftrpc.Request) ([]byte, error) { return req.Body, nil }

func (r *Responder) read(rel string) ([]byte, error) {
	fd, err := unix.Openat2(r.root, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: uint64(beneath),
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || st.Size > Limit {
		return nil, fmt.Errorf("%s: not a request file to read", rel)
	}
	buf := make([]byte, st.Size+1)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	if int64(n) != st.Size {
		return nil, fmt.Errorf("%s: changed while read", rel)
	}
	return buf[:n], nil
}

func (r *Responder) create(name string, data []byte) error {
	dfd, err := unix.Openat2(r.root, r.dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: uint64(beneath),
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: r.dir, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "create", Path: r.dir, Err: err}
	}
	var want unix.Stat_t
	_, err = unix.Write(fd, data)
	if err == nil {
		err = unix.Fstat(fd, &want)
	}
	if err == nil {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dfd, name, unix.AT_SYMLINK_FOLLOW)
	}
	unix.Close(fd)
	if err != nil {
		return &os.PathError{Op: "create", Path: path.Join(r.dir, name), Err: err}
	}
	efd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path.Join(r.dir, name), Err: err}
	}
	defer unix.Close(efd)
	var st unix.Stat_t
	if err := unix.Fstat(efd, &st); err != nil {
		return err
	}
	if st.Dev != want.Dev || st.Ino != want.Ino || st.Size != want.Size {
		return errors.New(name + ": replaced before its write event")
	}
	_, err = unix.Pwrite(efd, data[:1], 0)
	return err
}

// AnswerVia answers the request name as Answer does, except that the body
// of the response is what via returns for the request: the floor of a
// responder that asks another process for every answer (floor relay).
func (r *Responder) AnswerVia(name string, via func(req *syftrpc.Request) ([]byte, error)) error {
	rel := r.dir + "/" + name
	data, err := r.read(rel)
	if err != nil {
		return err
	}
	req, err := syftrpc.ParseRequest(data)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	body, err := via(req)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	resp := req.Reply(r.owner, time.Now())
	resp.Body = body
	r.buf = resp.AppendJSON(r.buf[:0])
	return r.create(strings.TrimSuffix(name, rpcpath.RequestExt)+rpcpath.ResponseExt, r.buf)
}

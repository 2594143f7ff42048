// Package floorfs is the filesystem floor the benchmarks hold the sidecar
// against: the file operations the sidecar must make for one request, with
// every guarantee it gives, and nothing else.
//
// For each request, beneath a root folder held open (the app's rpc folder):
//
//   - read it bounded: openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS and
//     O_NONBLOCK, fstat (a regular file, one link, not over the limit), one
//     read sized by fstat, close;
//   - write the response whole and never over a file: openat2 of its folder,
//     an O_TMPFILE file in it, write, fstat (its identity), linkat through
//     /proc/self/fd (fails if the name exists), close;
//   - give it the write event the SyftBox client sends it on: open the name
//     with O_NOFOLLOW, fstat (the same inode, the same size), rewrite its
//     first byte with itself, close; then close the folder.
//
// Parsing the request and formatting the echo use the sidecar's own
// syftrpc, so the floor pays for them as the sidecar does.
package floorfs

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Limit is the largest request read: the sidecar's --max-request-size
// default.
const Limit = 16 << 20

// ErrUnsupported: the floor needs Linux (openat2, O_TMPFILE).
var ErrUnsupported = errors.New("floorfs: needs Linux")

// AnswerAll answers the requests names ({id}.request) with n workers, each
// taking the next unanswered one, each with a Responder of its own.
func AnswerAll(r *Responder, names []string, n int) error {
	var next atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wr := r.Worker()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(names)) {
					return
				}
				if err := wr.Answer(names[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

//go:build !linux

package floorfs

import "github.com/openmined/syft-sidecar/internal/syftrpc"

// Responder answers requests; only Linux has one.
type Responder struct{}

// Open fails: see ErrUnsupported.
func Open(root, dir, owner string) (*Responder, error) { return nil, ErrUnsupported }

// Worker returns r.
func (r *Responder) Worker() *Responder { return r }

// Answer fails: see ErrUnsupported.
func (r *Responder) Answer(name string) error { return ErrUnsupported }

// Close does nothing.
func (r *Responder) Close() error { return nil }

// AnswerVia fails: see ErrUnsupported.
func (r *Responder) AnswerVia(name string, via func(req *syftrpc.Request) ([]byte, error)) error {
	return ErrUnsupported
}

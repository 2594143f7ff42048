package sidecar

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// callKey names one delivery: a redelivered request is a new call.
type callKey struct {
	id      string
	attempt uint32
}

// ctxKey finds the *callContext behind a handler's context, also through
// contexts the handler derived from it.
type ctxKey struct{}

// callContext is a handler's context. context.WithDeadline cannot move its
// deadline, and ExtendDeadline must, so the deadline is a timer that cancels
// an ordinary cancel context with the cause context.DeadlineExceeded. Done,
// Value and cancellation of derived contexts come from that inner context,
// so the standard library propagates cancellation without extra goroutines.
//
// The inner context takes its parent's values but not its cancellation: the
// session ends its calls itself when the parent ends (session.endCalls), from
// the map of calls it keeps anyway. As a child of the parent, each call would
// be added to and removed from the parent's own map of children, which cost
// more than the rest of the call's context.
type callContext struct {
	context.Context // from context.WithCancelCause
	parent          context.Context
	cancel          context.CancelCauseFunc
	key             callKey
	s               *session
	req             *Request
	ep              *endpoint // nil: not an endpoint of this client

	mu       sync.Mutex
	deadline time.Time   // zero: none
	timer    *time.Timer // nil when there is no deadline
}

func newCallContext(parent context.Context, s *session, key callKey, req *Request, ep *endpoint) *callContext {
	inner, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	c := &callContext{Context: inner, parent: parent, cancel: cancel, key: key, s: s, req: req, ep: ep, deadline: req.Deadline}
	if !c.deadline.IsZero() {
		c.timer = time.AfterFunc(time.Until(c.deadline), c.expire)
	}
	return c
}

func (c *callContext) expire() { c.cancel(context.DeadlineExceeded) }

// Deadline is the earlier of the request's current deadline and the parent's.
func (c *callContext) Deadline() (time.Time, bool) {
	d, ok := c.parent.Deadline()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.deadline.IsZero() && (!ok || c.deadline.Before(d)) {
		return c.deadline, true
	}
	return d, ok
}

// Err reports context.DeadlineExceeded, not context.Canceled, when the
// deadline passed, as a context from context.WithDeadline would.
func (c *callContext) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

func (c *callContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// extend moves the local deadline to now+d. It fails once the context ended,
// including when the timer fired while we were coming in.
func (c *callContext) extend(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	if c.timer != nil && !c.timer.Stop() {
		return context.DeadlineExceeded
	}
	c.deadline = time.Now().Add(d)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.expire)
	} else {
		c.timer.Reset(d)
	}
	return nil
}

// release frees the timer and the context once the handler returned.
func (c *callContext) release() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.cancel(context.Canceled)
}

// ExtendDeadline asks the sidecar for more time for the request that ctx (a
// handler's context, or one derived from it) serves: its deadline becomes
// now+d, both at the sidecar and in the handler's context. Call it before the
// current deadline passes; afterwards the sidecar has already answered 504
// and ExtendDeadline returns context.DeadlineExceeded.
func ExtendDeadline(ctx context.Context, d time.Duration) error {
	c, ok := ctx.Value(ctxKey{}).(*callContext)
	if !ok {
		return ErrNotHandlerContext
	}
	if d <= 0 {
		return fmt.Errorf("extend deadline: duration %v is not positive", d)
	}
	if err := c.extend(d); err != nil {
		return fmt.Errorf("extend deadline: %w", err)
	}
	m := &pb.ConnectRequest{Msg: &pb.ConnectRequest_ExtendDeadline{ExtendDeadline: &pb.ExtendDeadline{
		RequestId: c.key.id,
		Attempt:   c.key.attempt,
		ExtendBy:  durationpb.New(d),
	}}}
	if err := c.s.send(c.Done(), m); err != nil {
		if cerr := c.Err(); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("extend deadline: %w", err)
	}
	return nil
}

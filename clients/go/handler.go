package sidecar

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"google.golang.org/protobuf/proto"
)

// InternalErrorBody is the body of the 500 sent when a handler returns an
// error that is not a *StatusError, or panics. It is syft-event's, so callers
// see the same answer whichever runtime serves the app; details go to the log.
const InternalErrorBody = "Internal server error. Please try again later."

// Request is one request file, as the sidecar parsed it.
type Request struct {
	ID string
	// Attempt is 1 on first delivery and one more on each redelivery after a
	// handler was lost: a handler with side effects can use ID to stay
	// idempotent.
	Attempt  uint32
	App      string
	Endpoint string // as registered, such as "/echo"
	Sender   string // the sender's email, checked by the sidecar against its folder
	URL      string
	Method   string
	Headers  map[string]string
	// Body is nil when the request's body is JSON null, and non-nil (possibly
	// empty) otherwise.
	Body    []byte
	Created time.Time
	Expires time.Time
	// Deadline is when the sidecar gives up on this attempt and answers 504,
	// as it was at delivery; ExtendDeadline moves it. The handler's context
	// carries the current value.
	Deadline time.Time
	// Path is the request file's path relative to the datasites folder.
	Path string
}

// Response is what a handler answers.
type Response struct {
	// StatusCode is the HTTP status, 100-599; 0 means 200.
	StatusCode int
	Headers    map[string]string
	// Body is written as is; nil is written as JSON null.
	Body []byte
}

// Handler serves one endpoint. ServeRPC runs on its own goroutine, beside
// other requests, with a context that ends at the request's deadline, when
// the sidecar cancels the request, or when the stream to the sidecar ends.
//
// A nil *Response with a nil error answers 200 with a null body. An error
// made with Error answers its status and message; any other error, or a
// panic, answers 500 with InternalErrorBody. An error returned after the
// context ended sends nothing: the sidecar has already answered 504, or will
// deliver the request again.
type Handler interface {
	ServeRPC(ctx context.Context, r *Request) (*Response, error)
}

// HandlerFunc lets a plain function be a Handler.
type HandlerFunc func(ctx context.Context, r *Request) (*Response, error)

// ServeRPC calls f(ctx, r).
func (f HandlerFunc) ServeRPC(ctx context.Context, r *Request) (*Response, error) { return f(ctx, r) }

var _ Handler = HandlerFunc(nil)

// StatusError is an error that answers with a given status and body.
type StatusError struct {
	Code    int
	Message string
}

// Error returns an error that, returned by a handler (wrapped or not),
// answers status code with msg as the body. A code outside 100-599 answers 500.
func Error(code int, msg string) error { return &StatusError{Code: code, Message: msg} }

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Code, e.Message) }

// newRequest converts a delivered request. Missing timestamps stay zero.
func newRequest(m *pb.Request) *Request {
	r := &Request{
		ID:       m.GetId(),
		Attempt:  m.GetAttempt(),
		App:      m.GetApp(),
		Endpoint: m.GetEndpoint(),
		Sender:   m.GetSender(),
		URL:      m.GetUrl(),
		Method:   m.GetMethod(),
		Headers:  m.GetHeaders(),
		Body:     m.Body, // nil only when absent: protobuf keeps a present empty body non-nil
		Path:     m.GetPath(),
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	if m.GetCreated() != nil {
		r.Created = m.GetCreated().AsTime()
	}
	if m.GetExpires() != nil {
		r.Expires = m.GetExpires().AsTime()
	}
	if m.GetDeadline() != nil {
		r.Deadline = m.GetDeadline().AsTime()
	}
	return r
}

// newReply maps what a handler returned to the reply sent to the sidecar.
// It is the one place where handler outcomes become status codes. The error
// it returns, if any, is what the caller should log.
func newReply(id string, attempt uint32, resp *Response, err error) (*pb.Reply, error) {
	rep := &pb.Reply{RequestId: id, Attempt: attempt}
	var se *StatusError
	switch {
	case err == nil && resp == nil:
		rep.StatusCode = 200
	case err == nil:
		rep.StatusCode = int32(resp.StatusCode)
		if resp.StatusCode == 0 {
			rep.StatusCode = 200
		}
		rep.Headers = resp.Headers
		rep.Body = resp.Body
		if resp.StatusCode != 0 && !validStatus(resp.StatusCode) {
			// The sidecar would refuse it and keep waiting until the deadline;
			// a 500 now tells the caller sooner.
			return internalError(id, attempt), fmt.Errorf("invalid status code %d", resp.StatusCode)
		}
	case errors.As(err, &se):
		if !validStatus(se.Code) {
			return internalError(id, attempt), fmt.Errorf("invalid status code in %w", err)
		}
		rep.StatusCode = int32(se.Code)
		rep.Body = []byte(se.Message)
	default:
		return internalError(id, attempt), err
	}
	// The bound settles all but the replies near the limit without walking
	// the message: proto.Size costs as much as marshalling it.
	if replySizeBound(rep) > MaxReplySize {
		if n := proto.Size(rep); n > MaxReplySize {
			return internalError(id, attempt), fmt.Errorf("reply of %d bytes is over the sidecar's limit of %d", n, MaxReplySize)
		}
	}
	return rep, nil
}

// replySizeBound is at least the encoded size of r, and of r as one item of
// a ReplyBatch or in a ConnectRequest: each field's tag and length prefix at
// their longest (a varint of up to 10 bytes for the status, up to 5 for a
// length or the attempt).
func replySizeBound(r *pb.Reply) int {
	const (
		fixed    = 6 + 1 + 5 + 1 + 10 + 6 + 6 // wrapper, attempt, status, id's and body's prefixes
		perEntry = 6 + 6 + 6                  // a map entry's prefix, its key's and its value's
	)
	n := fixed + len(r.GetRequestId()) + len(r.GetBody())
	for k, v := range r.GetHeaders() {
		n += perEntry + len(k) + len(v)
	}
	return n
}

func internalError(id string, attempt uint32) *pb.Reply {
	return &pb.Reply{RequestId: id, Attempt: attempt, StatusCode: 500, Body: []byte(InternalErrorBody)}
}

func validStatus(code int) bool { return 100 <= code && code <= 599 }

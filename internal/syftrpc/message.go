// Package syftrpc reads and writes the SyftBox RPC file format (syft-rpc 0.4.x):
// request and response files, RPC URLs, rpc.schema.json and the rpc folder's
// permission file. It does no file I/O: the bridge reads and writes the files,
// this package says what the bytes mean. The rules for names and paths are
// package rpcpath's.
//
// Writers produce exactly the bytes syft-rpc's pydantic model_dump_json does, so
// a Python client cannot tell the sidecar from syft-event. Readers accept more,
// because the SyftBox Go client and its HTTP bridge write other shapes: keys in
// any order, "Z" or any offset, any number of fractional digits, standard or
// URL-safe base64 with or without padding, missing or null body, method,
// status_code and headers, and unknown keys.
package syftrpc

import (
	"errors"
	"strconv"
	"time"

	"github.com/openmined/syft-sidecar/internal/syftrpc/jsonlex"
)

// DefaultExpiry is how long a message lives when its file gives no expires:
// syft-rpc's DEFAULT_MESSAGE_EXPIRY.
const DefaultExpiry = 24 * time.Hour

// Methods syft-rpc accepts, in its own order (its SyftMethod enum).
const (
	MethodGet    = "GET"
	MethodHead   = "HEAD"
	MethodPost   = "POST"
	MethodPut    = "PUT"
	MethodPatch  = "PATCH"
	MethodDelete = "DELETE"
)

// knownMethod returns the Method constant b names, or "" for none.
func knownMethod(b []byte) string {
	switch string(b) {
	case MethodGet:
		return MethodGet
	case MethodHead:
		return MethodHead
	case MethodPost:
		return MethodPost
	case MethodPut:
		return MethodPut
	case MethodPatch:
		return MethodPatch
	case MethodDelete:
		return MethodDelete
	}
	return ""
}

// StatusOK is the status of a response whose file gives none.
const StatusOK = 200

// Parse errors wrap one of these, so a caller can tell a bad file from other
// failures with errors.Is. The rest of the message says what is wrong in words
// fit for a 400 response body.
var (
	ErrInvalidRequest  = errors.New("invalid request")
	ErrInvalidResponse = errors.New("invalid response")
)

// Request is a parsed .request file.
type Request struct {
	ID     string // canonical lower-case UUID, whatever form the file used
	Sender string
	URL    string // as in the file; see ParseURL for its parts
	// Body is nil when the file has null or no body; non-nil and empty for "".
	Body    []byte
	Headers map[string]string // never nil
	// Created and Expires keep the offset the file gave, at microsecond
	// precision (Python's datetime has no more; extra digits are truncated,
	// as pydantic does).
	Created time.Time
	Expires time.Time
	Method  string // one of the Method constants; GET when the file has none
}

// Response is a parsed .response file.
type Response struct {
	ID         string
	Sender     string
	URL        string
	Body       []byte // nil means null
	Headers    map[string]string
	Created    time.Time
	Expires    time.Time
	StatusCode int // 100-599; 200 when the file has none
}

// ParseRequest parses the content of a .request file. A missing created is
// taken as now (syft-rpc's default) and a missing expires as created plus
// DefaultExpiry. Errors wrap ErrInvalidRequest.
func ParseRequest(data []byte) (*Request, error) {
	var m message
	if err := m.parse(data, ErrInvalidRequest, false); err != nil {
		return nil, err
	}
	return &Request{
		ID:      m.id,
		Sender:  m.sender,
		URL:     m.url,
		Body:    m.body,
		Headers: m.headers,
		Created: m.created,
		Expires: m.expires,
		Method:  m.method,
	}, nil
}

// ParseResponse parses the content of a .response file, with the defaults of
// ParseRequest. Errors wrap ErrInvalidResponse.
func ParseResponse(data []byte) (*Response, error) {
	var m message
	if err := m.parse(data, ErrInvalidResponse, true); err != nil {
		return nil, err
	}
	return &Response{
		ID:         m.id,
		Sender:     m.sender,
		URL:        m.url,
		Body:       m.body,
		Headers:    m.headers,
		Created:    m.created,
		Expires:    m.expires,
		StatusCode: m.status,
	}, nil
}

// Expired reports whether the request has expired at now. Like syft-rpc, a
// request is still valid at the instant of its expiry.
func (r *Request) Expired(now time.Time) bool {
	return now.After(r.Expires)
}

// Reply starts the response to r the way syft-rpc's reply_to does: id, url and
// expires from the request, sender the owner answering, created now (in UTC,
// as Python's datetime.now(timezone.utc)), status 200, no headers, null body.
func (r *Request) Reply(owner string, now time.Time) *Response {
	return &Response{
		ID:         r.ID,
		Sender:     owner,
		URL:        r.URL,
		Headers:    map[string]string{},
		Created:    now.UTC().Truncate(time.Microsecond),
		Expires:    r.Expires,
		StatusCode: StatusOK,
	}
}

// AppendJSON appends the file content syft-rpc would write for r. An empty
// Method is written as GET. Header keys are written sorted: Go maps have no
// order, and syft-rpc gives them no meaning.
func (r *Request) AppendJSON(dst []byte) []byte {
	dst = appendCommon(dst, r.ID, r.Sender, r.URL, r.Body, r.Headers, r.Created, r.Expires)
	dst = append(dst, `,"method":`...)
	method := r.Method
	if method == "" {
		method = MethodGet
	}
	dst = appendString(dst, method)
	return append(dst, '}')
}

// AppendJSON appends the file content syft-rpc would write for r. A zero
// StatusCode is written as 200, as for ParseResponse.
func (r *Response) AppendJSON(dst []byte) []byte {
	dst = appendCommon(dst, r.ID, r.Sender, r.URL, r.Body, r.Headers, r.Created, r.Expires)
	dst = append(dst, `,"status_code":`...)
	code := r.StatusCode
	if code == 0 {
		code = StatusOK
	}
	dst = strconv.AppendInt(dst, int64(code), 10)
	return append(dst, '}')
}

// appendCommon writes every key but the last, in pydantic's field order.
func appendCommon(dst []byte, id, sender, url string, body []byte, headers map[string]string, created, expires time.Time) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"sender":`...)
	dst = appendString(dst, sender)
	dst = append(dst, `,"url":`...)
	dst = appendString(dst, url)
	dst = append(dst, `,"body":`...)
	dst = appendBody(dst, body)
	dst = append(dst, `,"headers":{`...)
	dst = appendHeaders(dst, headers)
	dst = append(dst, `},"created":"`...)
	dst = appendTime(dst, created)
	dst = append(dst, `","expires":"`...)
	dst = appendTime(dst, expires)
	return append(dst, '"')
}

// message is what requests and responses share while parsing.
type message struct {
	id, sender, url  string
	body             []byte
	headers          map[string]string
	created, expires time.Time
	method           string
	status           int
}

// readMethod reads method: one of the Method constants, or null for GET.
func (d *decoder) readMethod() (string, error) {
	if d.lex.Null() {
		return MethodGet, nil
	}
	b, err := d.stringField("method", false)
	if err != nil {
		return "", err
	}
	method := knownMethod(b)
	if method == "" {
		return "", d.errorf("%q %s is not one of GET HEAD POST PUT PATCH DELETE", "method", quote(b))
	}
	return method, nil
}

// readStatus reads status_code: an integer from 100 to 599, or null for
// StatusOK.
func (d *decoder) readStatus() (int, error) {
	lex := &d.lex
	if lex.Null() {
		return StatusOK, nil
	}
	c := lex.Peek()
	if c != '-' && !jsonlex.IsDigit(c) {
		if err := lex.Check(); err != nil {
			return 0, err
		}
		return 0, d.errorf("%q must be an integer, not %s", "status_code", jsonlex.TypeName(c))
	}
	start := lex.Offset()
	isInt, err := lex.Number()
	if err != nil {
		return 0, err
	}
	lit := lex.Since(start)
	if !isInt {
		return 0, d.errorf("%q must be an integer, not %s", "status_code", lit)
	}
	n, err := strconv.Atoi(string(lit))
	if err != nil || n < 100 || n > 599 {
		return 0, d.errorf("%q %s is not between 100 and 599", "status_code", lit)
	}
	return n, nil
}

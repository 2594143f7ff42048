package sidecar

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/openmined/syft-sidecar/duration"
)

// Defaults copied into a Client by New.
const (
	// DefaultMaxInFlight is how many requests a client serves at once. The
	// sidecar sends requests and takes replies in batches of at most what is
	// in flight: with 20,000 waiting, 64 took the echo example's CPU per
	// request from 19 to 11 us and the sidecar's from 78 to 66 against 16,
	// and answered them 1.3x as fast (issue 15).
	DefaultMaxInFlight = 64
	// DefaultConcurrency is DefaultMaxInFlight.
	//
	// Deprecated: use DefaultMaxInFlight.
	DefaultConcurrency = DefaultMaxInFlight
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between attempts
	// to reach the sidecar. The wait doubles from min to max and starts over
	// after each successful registration.
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// DefaultMaxRecvSize is the largest message, so the largest request
	// body, the client accepts. gRPC's own default of 4 MiB is too small for
	// files a sender may drop; the sidecar is trusted, so the limit is only a
	// guard against a runaway. WithDialOptions can change it.
	DefaultMaxRecvSize = 256 << 20
	// MaxReplySize is the largest reply the sidecar takes (its gRPC receive
	// limit, less a little for the message around a reply). A larger reply
	// is not sent, which would end the stream and send the request round
	// again; the client answers 500 instead and logs why.
	MaxReplySize = 64 << 20
	// maxSendSize is the gRPC send limit: a reply and what wraps it.
	maxSendSize = MaxReplySize + 64<<10
)

// Option configures a Client in New.
type Option func(*Client) error

// WithMaxInFlight sets how many requests the client serves at once (the
// stream's max_in_flight, the sidecar's --max-in-flight): the sidecar never
// sends more.
func WithMaxInFlight(n int) Option { return maxInFlight("max in flight", n) }

// WithConcurrency is WithMaxInFlight.
//
// Deprecated: use WithMaxInFlight.
func WithConcurrency(n int) Option { return maxInFlight("concurrency", n) }

// maxInFlight names the option it was given as in its error.
func maxInFlight(name string, n int) Option {
	return func(c *Client) error {
		if n < 1 || n > 1<<20 {
			return fmt.Errorf("%s %d out of range 1-%d", name, n, 1<<20)
		}
		c.maxInFlight = n
		return nil
	}
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.log = l
		return nil
	}
}

// WithHandlerName names this process in the sidecar's logs. The default is
// the program's name and its process id.
func WithHandlerName(name string) Option {
	return func(c *Client) error {
		c.handlerName = name
		return nil
	}
}

// WithDialOptions passes options to grpc.NewClient after the client's own
// (insecure transport credentials, connect backoff, receive size), so they
// can replace them: transport security and per-call credentials go here.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *Client) error {
		c.dialOpts = append(c.dialOpts, opts...)
		return nil
	}
}

// WithBackoff bounds the wait between attempts to reach the sidecar.
func WithBackoff(lo, hi time.Duration) Option {
	return func(c *Client) error {
		if lo <= 0 || hi < lo {
			return fmt.Errorf("backoff %v..%v: want 0 < min <= max", lo, hi)
		}
		c.minBackoff, c.maxBackoff = lo, hi
		return nil
	}
}

// Registered describes an app the sidecar accepted.
type Registered struct {
	App   string
	Owner string // the datasite owner's email, lower-cased
	// RPCDir and DatasitesDir are absolute paths on the sidecar's machine,
	// which may not be this one.
	RPCDir       string
	DatasitesDir string
	// SidecarVersion is the sidecar's version ("" from one that predates
	// version exchange); Capabilities what it serves beyond requests (see
	// the Capability constants of the api package).
	SidecarVersion string
	Capabilities   []string
}

// WithOnRegistered calls f each time the sidecar accepts an app: once per
// app on each connection, so again after a reconnect. f runs on the
// goroutine that receives from the sidecar: it must return quickly.
func WithOnRegistered(f func(Registered)) Option {
	return func(c *Client) error {
		c.onRegistered = f
		return nil
	}
}

// WithCleanup sets how old the apps' request and response files may grow
// before the sidecar removes them, and how often it looks, in syft-event's
// grammar ("30d", "1h", "1d2h30m"); an empty string keeps the sidecar's
// setting. It applies to every app this client registers.
func WithCleanup(expiry, interval string) Option {
	return func(c *Client) error {
		for _, v := range []string{expiry, interval} {
			if v == "" {
				continue
			}
			if _, err := duration.Parse(v); err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
		}
		c.cleanupExpiry, c.cleanupInterval = expiry, interval
		return nil
	}
}

// EnvToken names the environment variable New reads a token from when
// WithToken is not given.
const EnvToken = "SYFT_SIDECAR_TOKEN"

// WithToken sends token with every call, as the sidecar's --token-file
// requires. Without it, $SYFT_SIDECAR_TOKEN is used if set.
func WithToken(token string) Option {
	return func(c *Client) error {
		if strings.ContainsAny(token, "\r\n") {
			return errors.New("token: holds a line break")
		}
		c.token = strings.TrimSpace(token)
		return nil
	}
}

// WithTLS connects over TLS with cfg (set Certificates in it for mutual
// TLS), as the sidecar's --tls-cert requires.
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client) error {
		if cfg == nil {
			return errors.New("tls: nil config")
		}
		c.tlsConfig = cfg
		return nil
	}
}

// bearer sends the token. Over plaintext it is only allowed because the
// sidecar decides where plaintext is acceptable (unix sockets, loopback).
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// EndpointOption configures one endpoint in Handle.
type EndpointOption func(*endpoint) error

// WithDeadline sets how long a handler of the endpoint may take before the
// sidecar answers 504; the sidecar's default applies without it.
func WithDeadline(d time.Duration) EndpointOption {
	return func(e *endpoint) error {
		if d <= 0 {
			return fmt.Errorf("deadline %v is not positive", d)
		}
		e.deadline = d
		return nil
	}
}

// WithSchema sets the endpoint's entry in rpc.schema.json: a JSON object
// such as {"description": "...", "args": {...}, "returns": "..."}.
func WithSchema(schemaJSON string) EndpointOption {
	return func(e *endpoint) error {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(schemaJSON), &obj); err != nil || obj == nil {
			return fmt.Errorf("schema is not a JSON object: %q", truncate(schemaJSON, 40))
		}
		e.schema = schemaJSON
		return nil
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/rpcpath"
	"github.com/openmined/syft-sidecar/syftconfig"
)

// Errors returned by the client. Handlers find the two cancellation causes
// with context.Cause.
var (
	ErrClosed            = errors.New("client closed")
	ErrStarted           = errors.New("client already started")
	ErrNoHandlers        = errors.New("nothing to serve: no handlers, watches or listeners")
	ErrNotHandlerContext = errors.New("not a handler's context")
	// ErrCanceled is the cause of a handler context the sidecar cancelled
	// (request expired, sidecar shutting down); a passed deadline has the
	// cause context.DeadlineExceeded instead.
	ErrCanceled = errors.New("request canceled by sidecar")
	// ErrDisconnected is the cause of a handler context whose stream ended:
	// the sidecar will deliver the request again and drop this reply.
	ErrDisconnected = errors.New("stream to sidecar ended")
)

// Client serves the endpoints registered with Handle to one sidecar, and
// delivers the file events and listener events it subscribed to.
type Client struct {
	addr         string
	conn         *grpc.ClientConn
	rpc          pb.SidecarServiceClient
	log          *slog.Logger
	maxInFlight  int
	handlerName  string
	minBackoff   time.Duration
	maxBackoff   time.Duration
	onRegistered func(Registered)
	dialOpts     []grpc.DialOption
	token        string      // sent as "authorization: Bearer <token>"; empty: none
	tlsConfig    *tls.Config // nil: plaintext (unix sockets, loopback)
	// cleanupExpiry and cleanupInterval go to the sidecar with every app's
	// registration; empty keeps the sidecar's defaults.
	cleanupExpiry, cleanupInterval string
	onMissed                       func(MissedEvents)
	eventQueue                     int // events that wait for one subscription's callback

	mu        sync.Mutex
	state     int
	apps      []string            // in the order of their first Handle
	routes    []*endpoint         // in the order of Handle
	endpoints map[route]*endpoint // fixed once Run starts, so read without mu
	stop      context.CancelFunc  // ends Run
	done      chan struct{}       // closed when Run returns

	// Subscriptions outlive streams: each new stream sends them again.
	subs            []*subscription // in the order they were added
	subByID         map[string]*subscription
	nwatch, nlisten int      // ids handed out so far
	cur             *session // the stream subscriptions and Publish go to; nil between streams
	running         bool     // Run runs subscription goroutines (on runCtx, owned by subWG)
	runCtx          context.Context
	subWG           sync.WaitGroup
}

// stableAfter is how long a registered stream must last to end an outage:
// only then does the backoff start over and the next failure log again.
const stableAfter = time.Second

// flowWindow is the fixed HTTP/2 flow-control window, of the stream and of
// the connection, as the sidecar's (bridge.FlowWindow).
const flowWindow = 1 << 20

const (
	stateNew = iota
	stateStarted
	stateClosed
)

type route struct{ app, path string }

type endpoint struct {
	route
	h        Handler
	deadline time.Duration // zero: the sidecar's default
	schema   string
}

// New returns a client of the sidecar at addr: "unix:///abs/path.sock", an
// absolute socket path, or "host:port" (any gRPC target works). An empty addr means
// $SYFT_SIDECAR_ADDR, else the default address derived from the SyftBox
// config (the sidecar's own default when it shares that config). New does
// not connect: Run does, and waits for a sidecar that is not up yet.
func New(addr string, opts ...Option) (*Client, error) {
	c := &Client{
		log:         slog.Default(),
		maxInFlight: DefaultMaxInFlight,
		handlerName: defaultHandlerName(),
		minBackoff:  DefaultMinBackoff,
		maxBackoff:  DefaultMaxBackoff,
		endpoints:   map[route]*endpoint{},
		eventQueue:  DefaultEventQueue,
		subByID:     map[string]*subscription{},
	}
	c.token = os.Getenv(EnvToken)
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("new client: %w", err)
		}
	}
	if addr == "" {
		var err error
		if addr, err = discoverAddress(); err != nil {
			return nil, err
		}
	}
	// The sidecar's --listen also takes these two forms; gRPC does not.
	if strings.HasPrefix(addr, "/") {
		addr = "unix://" + addr
	}
	addr = strings.TrimPrefix(addr, "tcp://")
	c.addr = addr
	c.log = c.log.With("sidecar", addr)

	// gRPC reconnects on its own schedule too; keeping it as quick as ours
	// means a sidecar that is back is found at our next attempt, not after
	// gRPC's default of up to two minutes.
	bc := backoff.DefaultConfig
	bc.BaseDelay, bc.MaxDelay = c.minBackoff, c.maxBackoff
	creds := insecure.NewCredentials()
	if c.tlsConfig != nil {
		creds = credentials.NewTLS(c.tlsConfig)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: 5 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(DefaultMaxRecvSize), grpc.MaxCallSendMsgSize(maxSendSize)),
		// Fixed flow-control windows, as the sidecar's: gRPC's dynamic ones
		// answer every lone message with a window update and a BDP ping,
		// which wake the sidecar for nothing (one request at a time, each).
		grpc.WithStaticStreamWindowSize(flowWindow), grpc.WithStaticConnWindowSize(flowWindow),
	}
	if c.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{token: c.token, secure: c.tlsConfig != nil}))
	}
	dial = append(dial, c.dialOpts...)
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, fmt.Errorf("new client for %s: %w", addr, err)
	}
	c.conn, c.rpc = conn, pb.NewSidecarServiceClient(conn)
	return c, nil
}

func discoverAddress() (string, error) {
	if a := os.Getenv(syftconfig.EnvSidecarAddr); a != "" {
		return a, nil
	}
	cfg, err := syftconfig.Load(syftconfig.Overrides{})
	if err != nil {
		return "", fmt.Errorf("find sidecar address: none given, $%s unset, and no default from the syftbox config: %w",
			syftconfig.EnvSidecarAddr, err)
	}
	return cfg.DefaultAddress(), nil
}

func defaultHandlerName() string {
	return fmt.Sprintf("%s-%d", filepath.Base(os.Args[0]), os.Getpid())
}

// Handle serves requests to endpoint (such as "/echo" or "/api/v1/users")
// of app with h. Call it before Run.
func (c *Client) Handle(app, path string, h Handler, opts ...EndpointOption) error {
	// The sidecar's own rules, checked here so that a typo fails at Handle
	// instead of as an InvalidArgument from the sidecar at Run.
	if err := rpcpath.ValidateAppName(app); err != nil {
		return fmt.Errorf("handle: %w", err)
	}
	path, err := rpcpath.CleanEndpoint(path)
	if err != nil {
		return fmt.Errorf("handle: %w", err)
	}
	if h == nil {
		return fmt.Errorf("handle %s %s: nil handler", app, path)
	}
	ep := &endpoint{route: route{app, path}, h: h}
	for _, o := range opts {
		if err := o(ep); err != nil {
			return fmt.Errorf("handle %s %s: %w", app, path, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateStarted:
		return fmt.Errorf("handle %s %s: %w", app, path, ErrStarted)
	case stateClosed:
		return fmt.Errorf("handle %s %s: %w", app, path, ErrClosed)
	}
	if _, dup := c.endpoints[ep.route]; dup {
		return fmt.Errorf("handle %s %s: endpoint already handled", app, path)
	}
	if !c.hasApp(app) {
		c.apps = append(c.apps, app)
	}
	c.endpoints[ep.route] = ep
	c.routes = append(c.routes, ep)
	return nil
}

// HandleFunc is Handle for a plain function.
func (c *Client) HandleFunc(app, path string, f func(ctx context.Context, r *Request) (*Response, error), opts ...EndpointOption) error {
	if f == nil {
		return fmt.Errorf("handle %s %s: nil handler", app, path)
	}
	return c.Handle(app, path, HandlerFunc(f), opts...)
}

func (c *Client) hasApp(app string) bool {
	for _, a := range c.apps {
		if a == app {
			return true
		}
	}
	return false
}

// Run connects to the sidecar, registers the endpoints, watches and
// listeners, and serves requests and delivers events until ctx is cancelled
// or Close is called; then it cancels the handlers still running, sends the
// replies of those that finish, and returns nil (events still queued are not
// delivered). When the sidecar is unreachable or the stream breaks, Run
// tries again with backoff, registering everything anew; the sidecar
// delivers the requests that were in flight again, and the events after the
// last one each subscription took. Run returns an error only for what
// retrying cannot fix: a registration the sidecar refuses
// (codes.InvalidArgument), a sidecar that lacks a capability this client
// needs (codes.FailedPrecondition, naming both versions), missing or wrong
// credentials, or a server that is
// not a sidecar, or one that does not serve file events to a client that
// subscribes to them (codes.Unimplemented). Run may be called once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.state == stateClosed:
		c.mu.Unlock()
		return fmt.Errorf("run: %w", ErrClosed)
	case c.state == stateStarted:
		c.mu.Unlock()
		return fmt.Errorf("run: %w", ErrStarted)
	case len(c.endpoints) == 0 && len(c.subs) == 0:
		c.mu.Unlock()
		return fmt.Errorf("run: %w", ErrNoHandlers)
	}
	ctx, c.stop = context.WithCancel(ctx)
	c.done = make(chan struct{})
	c.state = stateStarted
	c.running, c.runCtx = true, ctx
	for _, sub := range c.subs {
		c.startSub(sub)
	}
	c.mu.Unlock()
	defer close(c.done)
	defer c.stopSubs() // after c.stop, which ends the callbacks' context
	defer c.stop()

	delay := c.minBackoff
	down := false // whether this outage was logged already
	for {
		registered, err := c.serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if permanent(err) {
			return fmt.Errorf("serve %s: %w", c.addr, err)
		}
		// A stream that breaks right after registering is no recovery: a
		// reply the sidecar cannot take ends every stream the same way, and
		// starting over at the shortest wait would spin and log each time.
		if !registered.IsZero() && time.Since(registered) >= stableAfter {
			delay, down = c.minBackoff, false
		}
		switch {
		case !down && !registered.IsZero():
			c.log.Warn("lost sidecar, reconnecting", "err", err)
		case !down:
			c.log.Warn("sidecar unavailable, retrying", "err", err)
		default:
			c.log.Debug("sidecar connection failed again", "err", err)
		}
		down = true
		// Jitter keeps the handlers of a restarted sidecar from all knocking
		// at the same instant.
		t := time.NewTimer(time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64())))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, c.maxBackoff)
	}
}

// clientVersion names this library and its version to the sidecar.
var clientVersion = "syft-sidecar-go " + pb.ModuleVersion()

// permanent reports errors that the same attempt would meet again:
// FailedPrecondition is a sidecar that lacks what this client needs.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented, codes.FailedPrecondition:
		return true
	}
	return false
}

// Close stops Run, waiting for it to return, and releases the connection.
// It must not be called from a handler, which Run waits for. Close is safe
// to call twice.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return nil
	}
	started := c.state == stateStarted
	c.state = stateClosed
	c.mu.Unlock()
	if started {
		c.stop()
		<-c.done
	}
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close connection: %w", err)
	}
	return nil
}

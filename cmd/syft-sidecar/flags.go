package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/openmined/syft-sidecar/duration"
	"github.com/openmined/syft-sidecar/internal/auth"
	"github.com/openmined/syft-sidecar/internal/bridge"
	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/watcher"
	"github.com/openmined/syft-sidecar/syftconfig"
)

// Defaults of the flags that are not the bridge's.
const (
	DefaultMetricsListen = "127.0.0.1:9464"
	DefaultDrainTimeout  = 10 * time.Second
	// DefaultMemoryLimit keeps a burst of 100,000 requests (about 90 MB
	// live) under 150 MB resident without slowing it: without a limit the
	// heap grows to twice what is live before the garbage collector runs.
	DefaultMemoryLimit = "128MiB"
	// DefaultGCPercent lets the heap grow to five times what is live
	// before the garbage collector runs, where Go's default is twice: the
	// sidecar's live heap is small (a few MB idle, the requests it holds
	// under load), so collecting less often saves CPU on every request
	// (2 µs of about 42 on 20,000 pending, see docs/performance.md) for
	// 10-25 MB more at the peak of a burst or backlog (idle unchanged),
	// while the memory limit above still bounds the heap.
	DefaultGCPercent = 400
	// MaxReplyBytes bounds one reply message from a handler, as both
	// clients bound what they send (their MaxReplySize / MAX_REPLY_BYTES);
	// the slack is the few bytes that wrap a reply in a ConnectRequest.
	MaxReplyBytes = 64<<20 + 64<<10
)

// usageError is a bad command line: one line that names the flag, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// options is the parsed command line.
type options struct {
	config      syftconfig.Config
	listen      listenAddr
	metrics     string
	logLevel    slog.Level
	logJSON     bool
	version     bool
	pprof       bool
	healthcheck bool
	bridge      bridge.Config
	drain       time.Duration
	configPath  string
	socketMode  os.FileMode
	token       string // empty: no token required
	tls         *tls.Config
	memoryLimit int64 // for debug.SetMemoryLimit; -1 leaves the runtime's (GOMEMLIMIT)
	// gcPercent is for debug.SetGCPercent (-1: off); gcFromEnv leaves the
	// runtime's ($GOGC) instead.
	gcPercent int
	gcFromEnv bool
	// deprecated holds one warning for each deprecated flag given, logged
	// once the logger exists.
	deprecated []string
}

// deprecatedFlags maps each old flag name to the one that replaced it; the
// old one still works, with a warning.
var deprecatedFlags = map[string]string{
	"settle": "event-settle",
}

// listenAddr is where gRPC is served: a unix socket path or a TCP address.
type listenAddr struct {
	network string // "unix" or "tcp"
	address string
}

func (l listenAddr) String() string {
	if l.network == "unix" {
		return "unix://" + l.address
	}
	return l.address
}

const usageText = `Usage: syft-sidecar [flags]

Serves the RPC of a SyftBox datasite's apps to handler processes over gRPC.
The owner and data dir come from the SyftBox config (--config, then
$SYFTBOX_CLIENT_CONFIG_PATH, then ~/.syftbox/config.json); flags and
$SYFTBOX_EMAIL / $SYFTBOX_DATA_DIR override it.

Flags:
`

// parseFlags reads args. An error names the flag at fault.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("syft-sidecar", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		dataDir, email, listen, logLevel, logFormat string
		grace, requestSettle, deadline, reconcile   time.Duration
		maxInFlight, maxAttempts                    uint
		maxPending                                  int
		cleanupExpiry, cleanupInterval              string
		tokenFile, tlsCert, tlsKey, tlsClientCA     string
		socketMode                                  string
		eventSettle                                 time.Duration
		eventBuffer                                 int
		memoryLimit, maxRequestSize, gcPercent      string
	)
	fs.StringVar(&o.configPath, "config", "", "SyftBox client config `file`")
	fs.StringVar(&dataDir, "data-dir", "", "SyftBox data `dir` (holds datasites/)")
	fs.StringVar(&email, "email", "", "datasite owner's `email`")
	fs.StringVar(&listen, "listen", "", "gRPC `address`: unix:///path.sock or host:port (default unix://{data_dir}/.syft-sidecar/sidecar.sock)")
	fs.StringVar(&o.metrics, "metrics-listen", DefaultMetricsListen, "`host:port` for /metrics, /healthz and /readyz; empty switches it off")
	fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "log `format`: text or json")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.healthcheck, "healthcheck", false, "ask the sidecar on --metrics-listen for /healthz and exit 0 if it is alive (for container health checks)")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go's /debug/pprof/ on the metrics address (for profiling; off by default)")
	fs.DurationVar(&grace, "grace", bridge.DefaultGrace, "how long a request for an undeclared endpoint waits for a handler before 404")
	fs.DurationVar(&requestSettle, "request-settle", bridge.DefaultRequestSettle, "how long an unreadable request file must stay unchanged before 400")
	fs.DurationVar(&deadline, "deadline", bridge.DefaultDeadline, "handler deadline for endpoints that declare none (then 504)")
	fs.UintVar(&maxInFlight, "max-in-flight", bridge.DefaultMaxInFlight, "requests per handler stream at once when the handler declares none")
	fs.IntVar(&maxPending, "max-pending", bridge.DefaultMaxPending, "requests held in memory at once, waiting or in flight; more stay on disk and are read once half of these are answered")
	fs.UintVar(&maxAttempts, "max-attempts", bridge.DefaultMaxAttempts, "handler streams that may end while holding a request before it is answered 502")
	fs.StringVar(&cleanupExpiry, "cleanup-expiry", duration.Format(cleanup.DefaultExpiry), "remove request and response files older than this (syft-event's grammar: 30d, 1d2h30m); a handler may set its app's")
	fs.StringVar(&cleanupInterval, "cleanup-interval", duration.Format(cleanup.DefaultInterval), "how often each app's cleanup runs, same grammar")
	fs.DurationVar(&eventSettle, "event-settle", bridge.DefaultEventSettle, "how long writes to one file must pause before they are reported as one MODIFY")
	fs.DurationVar(&eventSettle, "settle", bridge.DefaultEventSettle, "deprecated: use --event-settle")
	fs.IntVar(&eventBuffer, "event-buffer", bridge.DefaultEventBuffer, "file and listener events kept for clients that reconnect")
	fs.StringVar(&socketMode, "socket-mode", "0600", "permissions of the unix socket: 0600 (the sidecar's user only) or 0660 (its group too, for an app running as another user in the same group); on Windows only 0600, and the socket folder's access control list decides")
	fs.StringVar(&tokenFile, "token-file", "", "`file` holding a token every handler must send (required, or TLS, for TCP beyond loopback)")
	fs.StringVar(&tlsCert, "tls-cert", "", "serve gRPC over TLS with this certificate `file` (PEM), with --tls-key")
	fs.StringVar(&tlsKey, "tls-key", "", "the TLS private key `file` (PEM)")
	fs.StringVar(&tlsClientCA, "tls-client-ca", "", "require client certificates signed by this CA `file` (PEM): mutual TLS")
	fs.DurationVar(&o.drain, "drain-timeout", DefaultDrainTimeout, "on SIGTERM, how long in-flight requests may take to be answered")
	fs.StringVar(&maxRequestSize, "max-request-size", formatSize(bridge.DefaultMaxRequestSize), "largest request `size` read (1KiB to 64MiB, GOMEMLIMIT's syntax); a larger request file is answered 413 without being read")
	fs.StringVar(&memoryLimit, "memory-limit", DefaultMemoryLimit, "soft limit on the Go heap, as GOMEMLIMIT writes it (128MiB, 1GiB; off for none): near it the garbage collector works harder instead of letting the heap grow to twice what is live; $GOMEMLIMIT wins when set and this flag is not")
	fs.StringVar(&gcPercent, "gc-percent", strconv.Itoa(DefaultGCPercent), "how far the Go heap grows past what is live before a garbage collection, in percent, as GOGC writes it (100 is Go's default; off collects only near --memory-limit): higher costs memory and saves CPU; $GOGC wins when set and this flag is not")
	fs.DurationVar(&reconcile, "reconcile-interval", watcher.DefaultReconcileInterval, "how often to rescan the watched folders as a safety net (0: never)")
	// The flag package prints the whole usage on any error; a bad flag
	// gets one line instead, and the usage only comes with -h.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usageText)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if o.version {
		return o, nil
	}
	if o.healthcheck {
		if o.metrics == "" {
			return nil, usagef("invalid value for flag -metrics-listen: -healthcheck needs the metrics address")
		}
		return o, nil
	}
	bad := func(name, format string, a ...any) error {
		return usagef("invalid value for flag -%s: %s", name, fmt.Sprintf(format, a...))
	}
	if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, bad("log-level", "%q is not debug, info, warn or error", logLevel)
	}
	switch logFormat {
	case "text":
	case "json":
		o.logJSON = true
	default:
		return nil, bad("log-format", "%q is not text or json", logFormat)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		zero bool
	}{{"grace", grace, true}, {"request-settle", requestSettle, true}, {"deadline", deadline, false}, {"drain-timeout", o.drain, true}, {"reconcile-interval", reconcile, true}} {
		if d.v < 0 || (!d.zero && d.v == 0) {
			return nil, bad(d.name, "%s must be positive", d.v)
		}
	}
	if deadline > bridge.MaxDeadline {
		return nil, bad("deadline", "%s is over %s", deadline, bridge.MaxDeadline)
	}
	if maxInFlight == 0 || maxInFlight > bridge.MaxInFlightLimit {
		return nil, bad("max-in-flight", "%d is outside 1-%d", maxInFlight, bridge.MaxInFlightLimit)
	}
	for old, name := range deprecatedFlags {
		if explicit[old] {
			o.deprecated = append(o.deprecated, fmt.Sprintf("flag --%s is deprecated: use --%s", old, name))
		}
	}
	if eventSettle < 0 || eventSettle > time.Minute {
		name := "event-settle"
		if explicit["settle"] && !explicit[name] {
			name = "settle"
		}
		return nil, bad(name, "%s is outside 0-1m", eventSettle)
	}
	if eventBuffer < 1 || eventBuffer > 10_000_000 {
		return nil, bad("event-buffer", "%d is outside 1-10000000", eventBuffer)
	}
	if maxAttempts == 0 || maxAttempts > 1000 {
		return nil, bad("max-attempts", "%d is outside 1-1000", maxAttempts)
	}
	if maxPending < 1 || maxPending > 100_000_000 {
		return nil, bad("max-pending", "%d is outside 1-100000000", maxPending)
	}
	if o.metrics != "" {
		if _, _, err := net.SplitHostPort(o.metrics); err != nil {
			return nil, bad("metrics-listen", "%q is not host:port", o.metrics)
		}
	}
	cfg, err := syftconfig.Load(syftconfig.Overrides{ConfigPath: o.configPath, Email: email, DataDir: dataDir})
	if err != nil {
		return nil, usagef("%v", err)
	}
	o.config = cfg
	if listen == "" {
		listen = cfg.DefaultAddress()
	}
	switch socketMode {
	case "0600", "600":
		o.socketMode = 0o600
	case "0660", "660":
		o.socketMode = 0o660
	default:
		return nil, bad("socket-mode", "%q is not 0600 or 0660: anyone who can open the socket can answer the owner's requests", socketMode)
	}
	if runtime.GOOS == "windows" && o.socketMode != 0o600 {
		return nil, bad("socket-mode", "%s does not apply on Windows: who may connect is the socket folder's access control list", socketMode)
	}
	if tokenFile != "" {
		if o.token, err = auth.ReadTokenFile(tokenFile); err != nil {
			return nil, bad("token-file", "%v", err)
		}
	}
	if o.tls, err = tlsConfig(tlsCert, tlsKey, tlsClientCA); err != nil {
		return nil, err
	}
	if o.listen, err = parseListen(listen, o.token != "" || o.tls != nil); err != nil {
		return nil, bad("listen", "%v", err)
	}
	o.bridge = bridge.NewConfig(cfg.Email, cfg.DatasitesDir())
	o.bridge.Version = version
	o.bridge.Grace, o.bridge.RequestSettle, o.bridge.Deadline = grace, requestSettle, deadline
	o.bridge.MaxInFlight = uint32(maxInFlight)
	o.bridge.MaxAttempts = uint32(maxAttempts)
	o.bridge.MaxPending = maxPending
	o.bridge.ReconcileInterval = reconcile
	o.bridge.EventSettle, o.bridge.EventBuffer = eventSettle, eventBuffer
	o.memoryLimit = -1
	if explicit["memory-limit"] || os.Getenv("GOMEMLIMIT") == "" {
		if o.memoryLimit, err = parseSize(memoryLimit); err != nil {
			return nil, bad("memory-limit", "%v", err)
		}
	}
	o.gcFromEnv = !explicit["gc-percent"] && os.Getenv("GOGC") != ""
	if !o.gcFromEnv {
		if o.gcPercent, err = parseGCPercent(gcPercent); err != nil {
			return nil, bad("gc-percent", "%v", err)
		}
	}
	if o.bridge.MaxRequestSize, err = parseSize(maxRequestSize); err != nil || o.bridge.MaxRequestSize < 1<<10 || o.bridge.MaxRequestSize > bridge.MaxRequestSizeLimit {
		return nil, bad("max-request-size", "%q is not a size from 1KiB to 64MiB", maxRequestSize)
	}
	if o.bridge.CleanupExpiry, err = duration.Parse(cleanupExpiry); err != nil {
		return nil, bad("cleanup-expiry", "%v", err)
	}
	if o.bridge.CleanupInterval, err = duration.Parse(cleanupInterval); err != nil {
		return nil, bad("cleanup-interval", "%v", err)
	}
	return o, nil
}

// parseSize reads a byte count the way the Go runtime reads GOMEMLIMIT: a
// whole number with B, KiB, MiB, GiB or TiB, or none; "off" is no limit.
func parseSize(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size such as 128MiB or 1GiB (or off)", s)
	}
	return n << shift, nil
}

// parseGCPercent reads a percentage the way the Go runtime reads GOGC: a
// whole number, or "off" (-1).
func parseGCPercent(s string) (int, error) {
	if s == "off" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive whole number such as 100 or 400 (or off)", s)
	}
	return n, nil
}

// formatSize writes n as parseSize reads it, in the largest unit that
// divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseListen accepts unix:///abs/path, unix:path, host:port and
// tcp://host:port. TCP beyond loopback needs authentication: anyone who can
// connect could otherwise answer the owner's requests.
func parseListen(s string, authenticated bool) (listenAddr, error) {
	if rest, ok := strings.CutPrefix(s, "unix://"); ok {
		if rest == "" || !(strings.HasPrefix(rest, "/") || filepath.IsAbs(rest)) {
			return listenAddr{}, fmt.Errorf("%q: a unix socket needs an absolute path (unix:///path, or unix:C:/path on Windows)", s)
		}
		return listenAddr{network: "unix", address: rest}, nil
	}
	if rest, ok := strings.CutPrefix(s, "unix:"); ok && rest != "" {
		return listenAddr{network: "unix", address: rest}, nil
	}
	addr := strings.TrimPrefix(s, "tcp://")
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return listenAddr{}, fmt.Errorf("%q is neither unix:///path nor host:port", s)
	}
	if !isLoopback(host) && !authenticated {
		return listenAddr{}, fmt.Errorf("%q is not a loopback address: TCP beyond loopback needs --token-file or --tls-cert/--tls-key", s)
	}
	return listenAddr{network: "tcp", address: addr}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig loads the server's certificate and, for mutual TLS, the CA that
// client certificates must chain to.
func tlsConfig(certFile, keyFile, clientCA string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "" && clientCA == "":
		return nil, nil
	case certFile == "":
		return nil, usagef("invalid value for flag -tls-cert: needed with -tls-key and -tls-client-ca")
	case keyFile == "":
		return nil, usagef("invalid value for flag -tls-key: needed with -tls-cert")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, usagef("invalid value for flag -tls-cert: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, usagef("invalid value for flag -tls-client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("invalid value for flag -tls-client-ca: no PEM certificate in %s", clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

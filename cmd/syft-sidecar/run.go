package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/auth"
	"github.com/openmined/syft-sidecar/internal/bridge"
	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Main is the program: flags in, exit code out.
type Main struct {
	Stdout, Stderr io.Writer
}

// NewMain returns a Main writing to the given streams.
func NewMain(stdout, stderr io.Writer) *Main { return &Main{Stdout: stdout, Stderr: stderr} }

// Run runs the sidecar until ctx is cancelled (SIGTERM), then drains.
// It returns the process exit code: 0 after a clean drain, 2 for a bad
// command line, 1 otherwise.
func (m *Main) Run(ctx context.Context, args []string) int {
	o, err := parseFlags(args, m.Stderr)
	var uerr *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintf(m.Stderr, "syft-sidecar: %v\n", uerr)
		return 2
	case err != nil:
		fmt.Fprintf(m.Stderr, "syft-sidecar: %v\n", err)
		return 1
	case o.version:
		fmt.Fprintf(m.Stdout, "syft-sidecar %s\n", version)
		return 0
	case o.healthcheck:
		if err := healthcheck(o.metrics); err != nil {
			fmt.Fprintf(m.Stderr, "syft-sidecar: unhealthy: %v\n", err)
			return 1
		}
		return 0
	}
	var h slog.Handler
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	if o.logJSON {
		h = slog.NewJSONHandler(m.Stderr, hopts)
	} else {
		h = slog.NewTextHandler(m.Stderr, hopts)
	}
	logger := slog.New(h)
	for _, w := range o.deprecated {
		logger.Warn(w)
	}
	if err := serve(ctx, o, logger); err != nil {
		logger.Error("exit", "err", err)
		return 1
	}
	return 0
}

// serve wires the parts together and runs them.
func serve(ctx context.Context, o *options, logger *slog.Logger) error {
	if o.memoryLimit >= 0 {
		debug.SetMemoryLimit(o.memoryLimit)
	}
	if !o.gcFromEnv {
		debug.SetGCPercent(o.gcPercent)
	}
	logFileLimit(logger)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	metrics.RegisterBuildInfo(reg, version)
	grpcMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(grpcMetrics)

	lis, err := listen(o.listen, o.socketMode)
	if err != nil {
		return err
	}
	b := bridge.New(o.bridge, m, logger.With("component", "bridge"))
	if err := b.Open(); err != nil {
		lis.Close()
		return err
	}

	unary := []grpc.UnaryServerInterceptor{grpcMetrics.UnaryServerInterceptor()}
	streams := []grpc.StreamServerInterceptor{grpcMetrics.StreamServerInterceptor()}
	if o.token != "" {
		tok := auth.NewToken(o.token)
		tok.Logger = logger.With("component", "auth")
		tok.Refused = m.AuthRefused.Inc
		unary, streams = append(unary, tok.Unary), append(streams, tok.Stream)
	}
	sopts := []grpc.ServerOption{
		// A reply carries a whole response body; gRPC's 4 MiB default would
		// end the stream on a large one, and the request would go round.
		grpc.MaxRecvMsgSize(MaxReplyBytes),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(streams...),
	}
	sopts = append(sopts, bridge.ServerOptions()...)
	if o.tls != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(o.tls)))
	}
	srv := grpc.NewServer(sopts...)
	pb.RegisterSidecarServiceServer(srv, bridge.NewService(b))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	grpcMetrics.InitializeMetrics(srv)

	var ready atomic.Bool
	var metricsSrv *http.Server
	if o.metrics != "" {
		mlis, err := net.Listen("tcp", o.metrics)
		if err != nil {
			lis.Close()
			b.Close()
			return fmt.Errorf("listen metrics: %w", err)
		}
		if o.pprof {
			// Lock contention is what keeps the sidecar from using more
			// cores: sample it for /debug/pprof/mutex.
			runtime.SetMutexProfileFraction(mutexSampling)
		}
		metricsSrv = &http.Server{Handler: httpMux(reg, &ready, b, o.pprof), ReadHeaderTimeout: 10 * time.Second}
		go metricsSrv.Serve(mlis)
		logger.Info("metrics listening", "addr", mlis.Addr().String())
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	ready.Store(true)
	logger.Info("sidecar listening", "addr", o.listen.String(), "owner", o.config.Email, "data_dir", o.config.DataDir,
		"token", o.token != "", "tls", o.tls != nil, "version", version)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		b.Close()
		return fmt.Errorf("serve grpc: %w", err)
	}

	// Drain: no new deliveries, but streams stay open so that handlers can
	// still reply to what they hold.
	ready.Store(false)
	hs.Shutdown()
	logger.Info("draining", "timeout", o.drain)
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	derr := b.Drain(dctx)
	cancel()
	if derr != nil {
		logger.Warn("drain incomplete; unanswered requests stay on disk for the next start", "err", derr)
	}
	// Handler streams never end by themselves, so there is nothing to wait
	// for: ending them now makes the handlers reconnect to the next sidecar.
	srv.Stop()
	err = b.Close()
	if metricsSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		metricsSrv.Shutdown(sctx)
		cancel()
	}
	logger.Info("stopped")
	return err
}

// healthcheck asks a running sidecar's /healthz. Images built FROM scratch
// have no shell or curl, so the binary is its own health probe.
func healthcheck(addr string) error {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s", resp.Status)
	}
	return nil
}

// mutexSampling is the share of lock contention events --pprof samples:
// one in this many, which costs the hot path next to nothing.
const mutexSampling = 10

// probed is what the probes ask of the bridge.
type probed interface {
	Stuck() time.Duration
	Unwatched() int
}

// httpMux serves the metrics and probes. /healthz fails while request intake
// is stuck on one file event (a hung filesystem): a restart is the way out.
// /readyz fails while folders cannot be watched: requests there are still
// answered, by polling, but file events are lost, and only raising the
// watch limit mends it.
func httpMux(reg *prometheus.Registry, ready *atomic.Bool, b probed, profiling bool) *http.ServeMux {
	mux := http.NewServeMux()
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if d := b.Stuck(); d > 0 {
			http.Error(w, fmt.Sprintf("request intake stuck on one file event for %s (a hung filesystem?)", d.Round(time.Second)), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if n := b.Unwatched(); n > 0 {
			http.Error(w, fmt.Sprintf("%d folders cannot be watched (inotify watch limit reached: raise fs.inotify.max_user_watches); they are polled and their file events are lost", n), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// listen opens the gRPC listener. A unix socket is created with
// socketMode (0600 unless the operator shares it with a group); a socket
// file left by a killed sidecar is replaced, a live one is not.
func listen(a listenAddr, socketMode os.FileMode) (net.Listener, error) {
	if a.network != "unix" {
		l, err := net.Listen("tcp", a.address)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(a.address), 0o700); err != nil {
		return nil, fmt.Errorf("create socket folder: %w", err)
	}
	if fi, err := os.Lstat(a.address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen %s: file exists and is not a socket", a.address)
		}
		if c, err := net.DialTimeout("unix", a.address, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another sidecar is serving it", a.address)
		}
		if err := os.Remove(a.address); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	l, err := listenUnix(a.address, socketMode)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

//go:build unix

package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// BenchmarkPending measures this client's share of the cost of a request:
// b.N requests wait on disk, the real sidecar runs, and the client (in this
// process, so that -cpuprofile and -benchmem see it) answers them all as the
// echo example does. One op is one request; "client-us/req" is this
// process's CPU time (user + system) per request, and -benchmem's allocs/op
// are allocations per request. Put the data dir on tmpfs to keep the disk
// out of it; BENCH_IN_FLIGHT sets WithMaxInFlight:
//
//	TMPDIR=/dev/shm go test -run '^$' -bench Pending -benchtime 20000x -benchmem ./clients/go/
func BenchmarkPending(b *testing.B) {
	dataDir := sidecartest.MustDataDir(b)
	app := "bench"
	dir := dataDir.RequestDir(app, "/echo", sender)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	expires := time.Now().Add(time.Hour).UTC()
	for range b.N {
		req := syftrpc.Request{
			ID: sidecartest.NewID(), Sender: sender, URL: "syft://" + owner + "/app_data/" + app + "/rpc/echo",
			Body: []byte(`{"n":1}`), Headers: map[string]string{}, Created: time.Now().UTC(), Expires: expires,
			Method: syftrpc.MethodPost,
		}
		if err := os.WriteFile(filepath.Join(dir, req.ID+".request"), req.AppendJSON(nil), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	sock := filepath.Join(dataDir.Path, "sidecar.sock")
	addr := "unix://" + sock
	sidecartest.MustStartSidecar(b, sock, "--data-dir", dataDir.Path, "--email", owner, "--listen", addr,
		"--metrics-listen", "", "--log-level", "warn")

	var answered atomic.Int64
	done := make(chan struct{})
	c, err := New(addr, WithMaxInFlight(benchInFlight(b)), WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	err = c.HandleFunc(app, "/echo", func(ctx context.Context, r *Request) (*Response, error) {
		if answered.Add(1) == int64(b.N) {
			close(done)
		}
		return &Response{Body: r.Body}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	errc := make(chan error, 1)

	before := cpuTime(b)
	b.ResetTimer()
	go func() { errc <- c.Run(ctx) }()
	select {
	case <-done:
	case err := <-errc:
		b.Fatalf("run: %v", err)
	}
	// The last replies are on their way to the sidecar; the client's work
	// ends when they are out, which the last response file shows.
	sidecartest.WaitFor(b, time.Minute, "every response", func() bool {
		n, err := countResponses(dir)
		if err != nil {
			b.Fatal(err)
		}
		return n == b.N
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-before)/float64(time.Microsecond)/float64(b.N), "client-us/req")
}

// cpuTime is this process's user and system time so far (getrusage: why
// this file builds on unix only).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func countResponses(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	n := 0
	for _, name := range names {
		if filepath.Ext(name) == ".response" {
			n++
		}
	}
	return n, err
}

func benchInFlight(b *testing.B) int {
	n := DefaultMaxInFlight
	if s := os.Getenv("BENCH_IN_FLIGHT"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatalf("BENCH_IN_FLIGHT=%q: %v", s, err)
		}
	}
	return n
}

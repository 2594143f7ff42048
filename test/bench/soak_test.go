package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// BenchmarkSoak drives the sidecar and the Go echo handler at a steady rate
// (SOAK_RATE requests a second, 1,000 by default) for SOAK_DURATION (make
// soak: 30m), checking and removing every answered pair so the folder stays
// small, and fails if the sidecar's resident memory ever grows more than 10%
// over its level after the first minute: a leak shows as steady growth. It
// is skipped unless SOAK_DURATION is set.
func BenchmarkSoak(b *testing.B) {
	dur, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || dur <= time.Minute {
		b.Skip("set SOAK_DURATION above 1m (make soak) to run the soak")
	}
	rate := 1000
	if s := os.Getenv("SOAK_RATE"); s != "" {
		if rate, err = strconv.Atoi(s); err != nil || rate < 100 {
			b.Fatalf("SOAK_RATE %q: want a whole number of at least 100", s)
		}
	}
	for i := 0; i < b.N; i++ {
		soak(b, dur, rate)
	}
}

func soak(b *testing.B, dur time.Duration, rate int) {
	f := newFixture(b, 0)
	sock := filepath.Join(f.Path, "s.sock")
	sc := sidecartest.MustStartSidecar(b, sock, "--data-dir", f.Path, "--email", owner, "--listen", "unix://"+sock, "--metrics-listen", "", "--log-level", "warn")
	sidecartest.MustStartEcho(b, "unix://"+sock, "echo")
	f.MustRegistered(b, "echo", "/echo")

	type sent struct {
		id string
		n  int
	}
	inflight := make(chan sent, 1<<20)
	errc := make(chan error, 2)
	stop := make(chan struct{})
	// The sender: rate/100 requests every 10 ms, as the SyftBox client
	// delivers them (written to .syft-tmp, renamed in).
	go func() {
		defer close(inflight)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			for j := 0; j < rate/100; j++ {
				id := sidecartest.NewID()
				req := syftrpc.Request{
					ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/echo/rpc/echo",
					Body: []byte(strconv.Itoa(n)), Headers: map[string]string{},
					Created: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Method: "POST",
				}
				tmp := filepath.Join(f.tmpDir, id+".request")
				if err := os.WriteFile(tmp, req.AppendJSON(nil), 0o644); err != nil {
					errc <- err
					return
				}
				if err := f.renameIn(id); err != nil {
					errc <- err
					return
				}
				inflight <- sent{id, n}
				n++
			}
		}
	}()
	// The checker: each response, in order, echoes its request; then the
	// pair goes.
	checked := make(chan int, 1)
	go func() {
		count := 0
		defer func() { checked <- count }()
		for s := range inflight {
			resp := filepath.Join(f.reqDir, s.id+".response")
			deadline := time.Now().Add(30 * time.Second)
			var data []byte
			for {
				var err error
				if data, err = os.ReadFile(resp); err == nil {
					break
				}
				if time.Now().After(deadline) {
					errc <- fmt.Errorf("request %d unanswered after 30s", s.n)
					return
				}
				time.Sleep(time.Millisecond)
			}
			r, err := syftrpc.ParseResponse(data)
			if err != nil || r.StatusCode != 200 || string(r.Body) != strconv.Itoa(s.n) {
				errc <- fmt.Errorf("response %d: %v %s", s.n, err, data)
				return
			}
			os.Remove(filepath.Join(f.reqDir, s.id+".request"))
			os.Remove(resp)
			count++
		}
	}()

	start := time.Now()
	var base, peak int64
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	end := time.After(dur)
loop:
	for {
		select {
		case err := <-errc:
			close(stop)
			b.Fatal(err)
		case <-end:
			break loop
		case <-tick.C:
			rss := sc.MemoryBytes(b, "VmRSS")
			switch {
			case time.Since(start) < time.Minute:
			case base == 0:
				base = rss
			default:
				peak = max(peak, rss)
			}
		}
	}
	close(stop)
	n := <-checked
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "req/s")
	b.ReportMetric(float64(base)/(1<<20), "rss_1m_MiB")
	b.ReportMetric(float64(peak)/(1<<20), "rss_peak_MiB")
	b.Logf("%d requests in %s; RSS %d MiB after the first minute, at most %d MiB after", n, dur, base>>20, peak>>20)
	if float64(peak) > 1.1*float64(base) {
		b.Fatalf("RSS grew from %d MiB after the first minute to %d MiB: more than 10%%", base>>20, peak>>20)
	}
}

// Package bench measures the sidecar against the filesystem floor: the file
// operations the sidecar must make for each request alone (bench/floorfs),
// on the same disk, in the same run. Run with make bench-go.
package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/openmined/syft-sidecar/bench/floorfs"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// The datasite and the peer of every test (see sidecartest.Owner).
const owner, sender = sidecartest.Owner, sidecartest.Sender

func TestMain(m *testing.M) {
	defer sidecartest.RemoveBinaries()
	m.Run()
}

// fixture is a data dir with n requests staged in .syft-tmp, ready to be
// renamed into the echo app's request folder.
type fixture struct {
	sidecartest.DataDir
	tmpDir, reqDir string
	ids            []string
}

func newFixture(b *testing.B, n int) *fixture {
	b.Helper()
	d := sidecartest.MustDataDir(b)
	f := &fixture{
		DataDir: d,
		tmpDir:  filepath.Join(d.Path, ".syft-tmp"),
		reqDir:  d.RequestDir("echo", "/echo", sender),
	}
	for _, d := range []string{f.tmpDir, f.reqDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		id := sidecartest.NewID()
		req := syftrpc.Request{
			ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/echo/rpc/echo",
			Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Headers: map[string]string{},
			Created: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Method: "POST",
		}
		if err := os.WriteFile(filepath.Join(f.tmpDir, id+".request"), req.AppendJSON(nil), 0o644); err != nil {
			b.Fatal(err)
		}
		f.ids = append(f.ids, id)
	}
	return f
}

func (f *fixture) renameIn(id string) error {
	return os.Rename(filepath.Join(f.tmpDir, id+".request"), filepath.Join(f.reqDir, id+".request"))
}

// floor answers n requests with the sidecar's file operations alone
// (bench/floorfs) with one worker and with two, three times each, and
// returns the fastest: the disk's own speed varies from run to run, and the
// floor is what the disk can do at best.
func floor(b *testing.B, n int) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		for _, workers := range []int{1, 2} {
			best = min(best, floorOnce(b, n, workers))
		}
	}
	return best
}

func floorOnce(b *testing.B, n, workers int) time.Duration {
	f := newFixture(b, n)
	names := make([]string, len(f.ids))
	for i, id := range f.ids {
		if err := f.renameIn(id); err != nil {
			b.Fatal(err)
		}
		names[i] = id + ".request"
	}
	r := f.mustResponder(b)
	start := time.Now()
	if err := floorfs.AnswerAll(r, names, workers); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	f.checkAll(b)
	return took
}

// mustResponder is the floor's responder for f's request folder, beneath
// the app's rpc folder as the sidecar resolves it.
func (f *fixture) mustResponder(b *testing.B) *floorfs.Responder {
	b.Helper()
	rpc := filepath.Dir(filepath.Dir(f.reqDir))
	r, err := floorfs.Open(rpc, "echo/"+sender, owner)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// sidecar starts the sidecar and the Go echo handler on f's data dir.
func (f *fixture) sidecar(b *testing.B) {
	b.Helper()
	sock := filepath.Join(f.Path, "s.sock")
	sidecartest.MustStartSidecar(b, sock, "--data-dir", f.Path, "--email", owner, "--listen", "unix://"+sock, "--metrics-listen", metricsAddr, "--log-level", "warn")
	sidecartest.MustStartEcho(b, "unix://"+sock, "echo")
	f.MustRegistered(b, "echo", "/echo")
}

// metricsAddr is where the benchmarks' sidecar serves /metrics, so that its
// own view of latency (file seen to response written) can be reported.
const metricsAddr = "127.0.0.1:19464"

// scrape returns the sidecar's /metrics.
func scrape(b *testing.B) string {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// sidecarMean reads the mean of the sidecar's request_duration_seconds.
func sidecarMean(b *testing.B) time.Duration {
	var sum, count float64
	for _, line := range strings.Split(scrape(b), "\n") {
		if strings.HasPrefix(line, "syft_sidecar_request_duration_seconds_sum{app=\"echo\",endpoint=\"/echo\"}") {
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &sum)
		}
		if strings.HasPrefix(line, "syft_sidecar_request_duration_seconds_count{app=\"echo\",endpoint=\"/echo\"}") {
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &count)
		}
	}
	if count == 0 {
		return 0
	}
	return time.Duration(sum / count * float64(time.Second))
}

// responses reports each .response created in dir, as it lands.
func responses(b *testing.B, dir string) (<-chan string, func()) {
	w, err := fsnotify.NewBufferedWatcher(1 << 16)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Add(dir); err != nil {
		b.Fatal(err)
	}
	out := make(chan string, 1<<17)
	go func() {
		for ev := range w.Events {
			if ev.Has(fsnotify.Create) && strings.HasSuffix(ev.Name, ".response") {
				out <- strings.TrimSuffix(filepath.Base(ev.Name), ".response")
			}
		}
		close(out)
	}()
	return out, func() { w.Close() }
}

// checkAll verifies every response: each exists and echoes its request.
func (f *fixture) checkAll(b *testing.B) {
	b.Helper()
	for i, id := range f.ids {
		data, err := os.ReadFile(filepath.Join(f.reqDir, id+".response"))
		if err != nil {
			b.Fatalf("missing response %d: %v", i, err)
		}
		resp, err := syftrpc.ParseResponse(data)
		if err != nil || resp.StatusCode != 200 || string(resp.Body) != fmt.Sprintf(`{"n":%d}`, i) {
			b.Fatalf("wrong response %d: %v %s", i, err, data)
		}
	}
}

// BenchmarkBurst drops N requests at once and times until the last is
// answered, beside the floor for the same N on the same disk.
func BenchmarkBurst(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			fl := floor(b, n)
			f := newFixture(b, n)
			f.sidecar(b)
			got, stop := responses(b, f.reqDir)
			defer stop()
			start := time.Now()
			for _, id := range f.ids {
				if err := f.renameIn(id); err != nil {
					b.Fatal(err)
				}
			}
			timeout := time.After(2 * time.Minute)
			for i := 0; i < n; i++ {
				select {
				case <-got:
				case <-timeout:
					b.Fatalf("%d of %d answered in 2m", i, n)
				}
			}
			took := time.Since(start)
			f.checkAll(b)
			floorRate := float64(n) / fl.Seconds()
			rate := float64(n) / took.Seconds()
			b.ReportMetric(rate, "req/s")
			b.ReportMetric(floorRate, "floor-req/s")
			b.ReportMetric(100*rate/floorRate, "%floor")
			fmt.Printf("burst N=%d: sidecar+Go echo %.0f req/s (%s), floor %.0f req/s (%s): %.0f%% of the floor\n",
				n, rate, took.Round(time.Millisecond), floorRate, fl.Round(time.Millisecond), 100*rate/floorRate)
		})
	}
}

// floorResponder answers requests in f's folder with the file operations
// alone, woken by inotify as the sidecar is: the latency floor on this
// machine, where waking an idle CPU costs more than the file operations.
func (f *fixture) floorResponder(b *testing.B) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Add(f.reqDir); err != nil {
		b.Fatal(err)
	}
	r := f.mustResponder(b)
	b.Cleanup(func() { w.Close() })
	go func() {
		for ev := range w.Events {
			if ev.Has(fsnotify.Create) && strings.HasSuffix(ev.Name, ".request") {
				r.Answer(filepath.Base(ev.Name)) // a miss shows as a missing response
			}
		}
	}()
}

// latency renames f's requests in one at a time and returns the time from
// each rename to its response on disk, sorted.
func (f *fixture) latency(b *testing.B) []time.Duration {
	got, stop := responses(b, f.reqDir)
	defer stop()
	samples := make([]time.Duration, 0, len(f.ids))
	for _, id := range f.ids {
		start := time.Now()
		if err := f.renameIn(id); err != nil {
			b.Fatal(err)
		}
		select {
		case r := <-got:
			if r != id {
				b.Fatalf("response %s, want %s", r, id)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("no response in 10s")
		}
		samples = append(samples, time.Since(start))
	}
	f.checkAll(b)
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	return samples
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkLatency renames one request in at a time and times until its
// response is on disk: the sidecar with the Go echo handler, and the floor
// (an in-process inotify responder doing only the file operations).
func BenchmarkLatency(b *testing.B) {
	const n = 1000
	fl := newFixture(b, n)
	fl.floorResponder(b)
	floorSamples := fl.latency(b)

	f := newFixture(b, n)
	f.sidecar(b)
	samples := f.latency(b)
	p50, p99 := samples[len(samples)/2], samples[len(samples)*99/100]
	fp50, fp99 := floorSamples[len(floorSamples)/2], floorSamples[len(floorSamples)*99/100]
	inside := sidecarMean(b)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(fp50), "floor-p50-ms")
	b.ReportMetric(ms(fp99), "floor-p99-ms")
	fmt.Printf("latency rename-in to response, %d samples: sidecar+Go echo p50 %.3f ms, p99 %.3f ms; floor p50 %.3f ms, p99 %.3f ms; mean inside the sidecar (file seen to response written) %.3f ms\n",
		n, ms(p50), ms(p99), ms(fp50), ms(fp99), ms(inside))
}

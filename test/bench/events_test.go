package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// eventSource delivers the datasites-relative names of created files.
type eventSource func(b *testing.B, d sidecartest.DataDir, dir string) <-chan string

// floorEvents is the floor for file events: an in-process fsnotify watch on
// the folder, with nothing between the kernel and the callback.
func floorEvents(b *testing.B, d sidecartest.DataDir, dir string) <-chan string {
	w, err := fsnotify.NewBufferedWatcher(1 << 16)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Add(dir); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	out := make(chan string, 1<<17)
	go func() {
		for ev := range w.Events {
			if ev.Has(fsnotify.Create) {
				out <- filepath.Base(ev.Name)
			}
		}
	}()
	return out
}

// sidecarEvents starts a sidecar and watches dir through it over gRPC.
func sidecarEvents(b *testing.B, d sidecartest.DataDir, dir string) <-chan string {
	sock := filepath.Join(d.Path, "s.sock")
	sidecartest.MustStartSidecar(b, sock, "--data-dir", d.Path, "--email", owner, "--listen", "unix://"+sock,
		"--metrics-listen", "", "--log-level", "warn")
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() { cancel(); cc.Close() })
	st, err := pb.NewSidecarServiceClient(cc).Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rel, _ := filepath.Rel(filepath.Join(d.Path, "datasites"), dir)
	if err := st.Send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Watch{Watch: &pb.Watch{
		Id: "b", Globs: []string{filepath.ToSlash(rel) + "/*"},
		Kinds: []pb.FileEventKind{pb.FileEventKind_FILE_EVENT_KIND_CREATED},
	}}}); err != nil {
		b.Fatal(err)
	}
	for {
		m, err := st.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if m.GetSubscribed() != nil {
			break
		}
	}
	out := make(chan string, 1<<17)
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if ev := m.GetFileEvent(); ev != nil {
				out <- filepath.Base(ev.GetPath())
			}
		}
	}()
	return out
}

// eventRun measures one source: events per second for a burst of n
// files, and one-at-a-time latency from creating a file to its event.
func eventRun(b *testing.B, src eventSource, n int) (rate float64, p50, p99 time.Duration) {
	d := sidecartest.MustDataDir(b)
	dir := filepath.Join(d.Path, "datasites", owner, "events")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	got := src(b, d, dir)
	wait := func(name string) {
		timeout := time.After(30 * time.Second)
		for {
			select {
			case g := <-got:
				if g == name {
					return
				}
			case <-timeout:
				b.Fatalf("no event for %s", name)
			}
		}
	}
	var lat []time.Duration
	for i := 0; i < 500; i++ {
		name := fmt.Sprintf("lat-%d.txt", i)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		wait(name)
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("burst-%d.txt", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	seen := 0
	timeout := time.After(60 * time.Second)
	for seen < n {
		select {
		case g := <-got:
			if strings.HasPrefix(g, "burst-") {
				seen++
			}
		case <-timeout:
			b.Fatalf("%d of %d burst events", seen, n)
		}
	}
	return float64(n) / time.Since(start).Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

// BenchmarkFileEvents: file creation to event, through the sidecar beside
// the in-process floor, in one run.
func BenchmarkFileEvents(b *testing.B) {
	const n = 5000
	frate, fp50, fp99 := eventRun(b, floorEvents, n)
	rate, p50, p99 := eventRun(b, sidecarEvents, n)
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(ms(p50), "p50-ms")
	fmt.Printf("file events, %d created in a burst: sidecar %.0f events/s, floor (in-process fsnotify) %.0f/s; "+
		"latency create-to-event p50/p99: sidecar %.3f/%.3f ms, floor %.3f/%.3f ms\n",
		n, rate, frate, ms(p50), ms(p99), ms(fp50), ms(fp99))
}

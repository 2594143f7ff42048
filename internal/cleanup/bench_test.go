package cleanup_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/safefs"
)

// BenchmarkRun is one cleanup run over 20,000 kept requests and their
// responses (put TMPDIR on tmpfs): "cold" reads every request, as every
// run did before Known, "known" is every run after the first.
func BenchmarkRun(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		sub := filepath.Join(dir, "ep", fmt.Sprintf("u%d@example.com", i%100))
		if i < 100 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(sub, id+".request"), request(id, time.Now()), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, id+".response"), []byte("{}"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	root, err := safefs.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, mode := range []string{"cold", "known"} {
		b.Run(mode, func(b *testing.B) {
			c := &cleanup.Cleaner{Root: root, Expiry: cleanup.DefaultExpiry, Logger: logger}
			if mode == "known" {
				c.Known = cleanup.NewKnown(cleanup.DefaultKnownMax)
				c.Run(time.Now())
			}
			b.ReportAllocs()
			for b.Loop() {
				if st := c.Run(time.Now()); st.RequestsDeleted != 0 {
					b.Fatalf("%+v", st)
				}
			}
		})
	}
}

// BenchmarkKnownMemory reports what a Known full to DefaultKnownMax holds
// in memory per request.
func BenchmarkKnownMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		k := cleanup.NewKnown(cleanup.DefaultKnownMax)
		for i := range cleanup.DefaultKnownMax {
			k.NoteAll([]cleanup.Noted{{Rel: fmt.Sprintf("ep/u@example.com/%d.request", i), Created: time.Now(), Stamp: safefs.Stamp{ModTime: time.Now(), Size: 300}}})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(k.Len()), "bytes/entry")
		runtime.KeepAlive(k)
	}
}

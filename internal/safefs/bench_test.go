package safefs_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

// The depth of a request below the owner's datasite:
// app_data/{app}/rpc/{endpoint}/{sender}/{id}.request.
const benchDir = "app_data/echo/rpc/echo/alice@example.com"

var benchRoots = []struct {
	name string
	open func(string) (root, error)
}{
	{"platform", func(d string) (root, error) { return safefs.OpenRoot(d) }},
	{"portable", func(d string) (root, error) { return safefs.OpenPortableRoot(d) }},
}

// BenchmarkReadFile reads one request file: openat2 in one call on Linux,
// one Lstat, open and compare per name with the portable Root.
func BenchmarkReadFile(b *testing.B) {
	for _, br := range benchRoots {
		b.Run(br.name, func(b *testing.B) {
			dir := b.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, benchDir), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, benchDir, "x.request"), []byte(`{"id":"x"}`), 0o644); err != nil {
				b.Fatal(err)
			}
			r, err := br.open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadFile(benchDir+"/x.request", 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateNew writes one response: O_TMPFILE and a link on Linux, a
// temporary file, a link and an unlink with the portable Root.
func BenchmarkCreateNew(b *testing.B) {
	for _, br := range benchRoots {
		b.Run(br.name, func(b *testing.B) {
			dir := b.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, benchDir), 0o755); err != nil {
				b.Fatal(err)
			}
			r, err := br.open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			data := []byte(`{"id":"x","status_code":200}`)
			// The names are made with the timer stopped, so that what the
			// benchmark reports allocated is CreateNew's alone.
			var names []string
			b.ReportAllocs()
			for b.Loop() {
				if len(names) == 0 {
					b.StopTimer()
					names = nextNames(names, 1000)
					b.StartTimer()
				}
				if err := r.CreateNew(names[0], data, 0o644); err != nil {
					b.Fatal(err)
				}
				names = names[1:]
			}
		})
	}
}

var nameSeq int

// nextNames returns n response names in benchDir never used before.
func nextNames(buf []string, n int) []string {
	buf = buf[:0]
	for range n {
		nameSeq++
		buf = append(buf, benchDir+"/"+strconv.Itoa(nameSeq)+".response")
	}
	return buf
}

package sidecartest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Import paths of the binaries under test. go build takes them from any
// directory inside the module, so no test needs to know where it sits.
const (
	sidecarPkg = "github.com/openmined/syft-sidecar/cmd/syft-sidecar"
	echoPkg    = "github.com/openmined/syft-sidecar/clients/go/examples/echo"
)

// Bins are the paths of the built binaries.
type Bins struct {
	Sidecar string // cmd/syft-sidecar
	Echo    string // clients/go/examples/echo
}

var builds struct {
	once sync.Once
	dir  string
	bins Bins
	err  error
}

// MustBuild builds the sidecar and the echo example the first time it is
// called in a test binary, with -race if the test binary has it, and returns
// their paths; later calls return the same binaries, or the same build error.
// The caller's TestMain removes them with RemoveBinaries.
func MustBuild(tb testing.TB) Bins {
	tb.Helper()
	builds.once.Do(func() { builds.bins, builds.err = build() })
	if builds.err != nil {
		tb.Fatalf("cannot run the real binaries: %v", builds.err)
	}
	return builds.bins
}

func build() (Bins, error) {
	dir, err := os.MkdirTemp("", "sidecartest-")
	if err != nil {
		return Bins{}, fmt.Errorf("make build dir: %w", err)
	}
	builds.dir = dir
	bins := Bins{Sidecar: filepath.Join(dir, "syft-sidecar"), Echo: filepath.Join(dir, "echo")}
	for _, b := range []struct{ out, pkg string }{{bins.Sidecar, sidecarPkg}, {bins.Echo, echoPkg}} {
		args := []string{"build", "-o", b.out}
		if race {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, b.pkg)...).CombinedOutput(); err != nil {
			return Bins{}, fmt.Errorf("build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return bins, nil
}

// RemoveBinaries deletes what MustBuild built, if anything. The binaries
// outlive any one test, so TestMain removes them after all have run:
//
//	func TestMain(m *testing.M) {
//		defer sidecartest.RemoveBinaries()
//		m.Run() // returning lets the test wrapper exit with m.Run's code
//	}
func RemoveBinaries() {
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
}

package sidecartest

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

func TestMain(m *testing.M) {
	defer RemoveBinaries()
	m.Run()
}

// The binaries are built with -race exactly when this test binary is, and
// only once.
func TestMustBuild(t *testing.T) {
	bins := MustBuild(t)
	if again := MustBuild(t); again != bins {
		t.Fatalf("second build %+v, want the first %+v", again, bins)
	}
	for _, bin := range []string{bins.Sidecar, bins.Echo} {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		built := false
		for _, s := range info.Settings {
			if s.Key == "-race" {
				built, _ = strconv.ParseBool(s.Value)
			}
		}
		if built != race {
			t.Errorf("%s built with -race=%v, test binary with -race=%v", filepath.Base(bin), built, race)
		}
	}
}

func TestNewID(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewID(), NewID()
	if !uuid4.MatchString(a) || !uuid4.MatchString(b) || a == b {
		t.Fatalf("ids %q, %q: want two different UUIDv4s", a, b)
	}
}

// Stop reports the exit code; Wait reports a process that ends by itself.
func TestProcExitCode(t *testing.T) {
	p := MustStart(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if code := p.Wait(t, StopTimeout); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if got := p.Output(); got != "out\nerr\n" {
		t.Fatalf("output %q, want both streams", got)
	}
	// A SIGTERM before the trap is set would kill the shell: wait for it.
	p = MustStart(t, exec.Command("sh", "-c", "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.01; done"))
	WaitFor(t, StartTimeout, "trap", func() bool { return p.Output() == "trapped\n" })
	if code := p.Stop(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// binaryVersion is what the test binary says with --version.
func binaryVersion(t *testing.T) string {
	t.Helper()
	code, out := run(t, "--version")
	v, ok := strings.CutPrefix(strings.TrimSpace(out), "syft-sidecar ")
	if code != 0 || !ok {
		t.Fatalf("--version: exit %d, %q", code, out)
	}
	return v
}

// A build without -ldflags, as `go install .../cmd/syft-sidecar@v1.2.3`
// makes, reports the version Go recorded: in a git checkout built with
// -buildvcs, a pseudo-version of the commit. A program that uses the Go
// client names the version it requires.
func TestVersionFromBuildInfo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found: go build cannot stamp a version from the checkout")
	}
	dir := t.TempDir()
	goBuild := func(wd string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", append([]string{"build", "-o", filepath.Join(dir, "bin")}, args...)...)
		cmd.Dir = wd
		// -mod=mod lets the module below take its go.sum from ours.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", args, err, out)
		}
	}
	output := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(dir, "bin"), args...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}

	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		// go build looks for a .git folder; a git worktree's .git is a file.
		t.Skip("not a plain git checkout, where go build stamps no version")
	}
	goBuild(root, "-buildvcs=true", "./cmd/syft-sidecar")
	if v := output("--version"); !regexp.MustCompile(`^syft-sidecar v\d+\.\d+\.\d+(-\S+)?$`).MatchString(v) {
		t.Errorf("--version of a build in the checkout: %q, want the pseudo-version Go stamps", v)
	}

	app := filepath.Join(dir, "app")
	MustMkdir(t, app)
	for name, text := range map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.26\n\nrequire " + pb.ModulePath + " v1.2.3\n\nreplace " + pb.ModulePath + " => " + root + "\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\tpb \"" + pb.ModulePath + "/api/proto/syftsidecar/v1\"\n)\n\nfunc main() { fmt.Println(pb.ModuleVersion()) }\n",
	} {
		if err := os.WriteFile(filepath.Join(app, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goBuild(app, ".")
	if v := output(); v != "v1.2.3" {
		t.Errorf("a program requiring the module at v1.2.3 says %q", v)
	}
}

// Registered names the sidecar's version and capabilities; a Register that
// requires what the sidecar lacks is refused with one message naming both
// versions; /metrics says which build runs.
func TestVersionExchange(t *testing.T) {
	version := binaryVersion(t)
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t)
	e.flags = []string{"--metrics-listen", maddr}
	e.start()

	register := func(requires ...string) *pb.ConnectRequest {
		return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Register{Register: &pb.Register{
			App: "ver", Endpoints: []*pb.Endpoint{{Path: "/v"}},
			ClientVersion: "test-client 9.9", Requires: requires,
		}}}
	}
	s := e.mustEvStream(t)
	s.send(register(pb.CapabilityFileEvents, pb.CapabilityBatch))
	ack := s.next("Registered", func(m *pb.ConnectResponse) bool { return m.GetRegistered() != nil }).GetRegistered()
	if ack.GetSidecarVersion() != version {
		t.Errorf("Registered.sidecar_version %q, --version says %q", ack.GetSidecarVersion(), version)
	}
	if !slices.Equal(ack.GetCapabilities(), pb.Capabilities) {
		t.Errorf("Registered.capabilities %q, want %q", ack.GetCapabilities(), pb.Capabilities)
	}

	refused := e.mustEvStream(t)
	refused.send(register(pb.CapabilityBatch, "teleport"))
	err := refused.ended()
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Register requiring a capability the sidecar lacks: %v, want FailedPrecondition", err)
	}
	msg := status.Convert(err).Message()
	for _, want := range []string{"syft-sidecar " + version, `"teleport"`, "test-client 9.9"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, `"batch"`) {
		t.Errorf("refusal %q names a capability the sidecar has", msg)
	}

	sample := `syft_sidecar_build_info{goversion="` + runtime.Version() + `",version="` + version + `"}`
	sidecartest.WaitFor(t, 10*time.Second, "build_info on /metrics", func() bool { return metric(t, maddr, sample) == "1" })
}

package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// run runs the sidecar to completion and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sidecartest.MustBuild(t).Sidecar, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "SYFTBOX_CLIENT_CONFIG_PATH=", "SYFTBOX_EMAIL=", "SYFTBOX_DATA_DIR=")
	p := sidecartest.MustStart(t, cmd)
	code := p.Wait(t, 10*time.Second)
	return code, p.Output()
}

// A bad flag or value gets one line naming it and exit status 2.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--email", owner, "--metrics-listen", ""}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "-nope"},
		{[]string{"--grace", "soon"}, "-grace"},
		{[]string{"--deadline", "0s"}, "-deadline"},
		{[]string{"--request-settle", "-1s"}, "-request-settle"},
		{[]string{"--event-settle", "2m"}, "-event-settle"},
		{[]string{"--settle", "2m"}, "-settle"},
		{[]string{"--log-format", "xml"}, "-log-format"},
		{[]string{"--log-level", "loud"}, "-log-level"},
		{[]string{"--max-in-flight", "0"}, "-max-in-flight"},
		{[]string{"--socket-mode", "0666"}, "-socket-mode"},
		{[]string{"--listen", "relative.sock"}, "-listen"},
		{[]string{"--listen", "0.0.0.0:7000"}, "-listen"},
		{[]string{"--metrics-listen", "9464"}, "-metrics-listen"},
		{[]string{"--email", "not-an-email"}, "email"},
		{[]string{"--max-pending", "0"}, "-max-pending"},
		{[]string{"--memory-limit", "lots"}, "-memory-limit"},
		{[]string{"--memory-limit", "0"}, "-memory-limit"},
		{[]string{"--memory-limit", "128MB"}, "-memory-limit"},
		{[]string{"--gc-percent", "0"}, "-gc-percent"},
		{[]string{"--gc-percent", "lots"}, "-gc-percent"},
		{[]string{"--max-request-size", "off"}, "-max-request-size"},
		{[]string{"--max-request-size", "100B"}, "-max-request-size"},
		{[]string{"--max-request-size", "1GiB"}, "-max-request-size"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out := run(t, append(append([]string{}, base...), tc.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; output %q", code, out)
			}
			if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("output %q: want one line naming %q", out, tc.want)
			}
		})
	}
	t.Run("no config at all", func(t *testing.T) {
		code, out := run(t, "--metrics-listen", "")
		if code != 2 || !strings.Contains(out, "--email") {
			t.Fatalf("exit %d, output %q: want 2 and a hint naming --email", code, out)
		}
	})
}

// The old --settle still sets the event settle delay, and says once which
// flag replaced it.
func TestDeprecatedSettleFlag(t *testing.T) {
	e := newEnv(t, "--settle", "20ms")
	e.start()
	if code := e.sidecar.Stop(t); code != 0 {
		t.Fatalf("exit %d; output %q", code, e.sidecar.Output())
	}
	out := e.sidecar.Output()
	if n := strings.Count(out, "use --event-settle"); n != 1 {
		t.Fatalf("want one warning naming --event-settle, got %d in %q", n, out)
	}
}

func TestHealthcheckOfNothing(t *testing.T) {
	addr := sidecartest.FreeAddr(t)
	if code, out := run(t, "--healthcheck", "--metrics-listen", addr); code != 1 || !strings.Contains(out, "unhealthy") {
		t.Fatalf("--healthcheck with no sidecar: exit %d, %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out := run(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "syft-sidecar ") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

// The SyftBox config gives owner and data dir; the default socket is
// derived from it.
func TestConfigAndDefaultSocket(t *testing.T) {
	e := newEnv(t)
	cfg := filepath.Join(e.Path, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"email":"Bob@Example.com","data_dir":"`+e.Path+`","server_url":"https://x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(e.Path, ".syft-sidecar", "sidecar.sock")
	sidecartest.MustStartSidecar(t, sock, "--config", cfg, "--metrics-listen", "")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("socket mode %o, want 600", perm)
	}
	e.sock = sock
	e.echo("echo")
	_, p := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("cfg")})
	wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "cfg")
}

// --socket-mode 0660 lets the sidecar's group open the socket.
func TestSocketMode(t *testing.T) {
	e := newEnv(t, "--socket-mode", "0660")
	e.start()
	fi, err := os.Stat(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Fatalf("socket mode %o, want 660", perm)
	}
}

// A socket file left by a killed sidecar is replaced; a live one is not.
func TestStaleSocket(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.sidecar.Kill()
	if _, err := os.Stat(e.sock); err != nil {
		t.Fatalf("kill -9 should leave the socket file behind: %v", err)
	}
	e.start() // would fail to listen if the stale file were kept
	code, out := run(t, "--data-dir", e.Path, "--email", owner, "--listen", e.addr(), "--metrics-listen", "")
	if code != 1 || !strings.Contains(out, "another sidecar") {
		t.Fatalf("second sidecar on a live socket: exit %d, %q", code, out)
	}
}

// /healthz, /readyz and /metrics on the metrics address.
func TestMetricsEndpoints(t *testing.T) {
	addr := sidecartest.FreeAddr(t)
	e := newEnv(t)
	e.flags = []string{"--metrics-listen", addr}
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "echo")
	_, p := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("m")})
	sidecartest.MustResponse(t, p, 10*time.Second)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(path); code != 200 {
			t.Fatalf("%s: %d %q", path, code, body)
		}
	}
	if code, _ := get("/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: %d, want 404", code)
	}
	// The binary is its own container health probe.
	if code, out := run(t, "--healthcheck", "--metrics-listen", addr); code != 0 {
		t.Fatalf("--healthcheck against a live sidecar: exit %d, %q", code, out)
	}
	// The response is counted once it is on disk; the counter may trail the
	// file by a moment.
	sidecartest.WaitFor(t, 5*time.Second, "answered counter", func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `syft_sidecar_responses_written_total{app="echo",code="200",endpoint="/echo"} 1`)
	})
	_, body := get("/metrics")
	// Prometheus's own linter on the real output. CI installs promtool
	// (Debian's prometheus package); elsewhere the test says what it skipped.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("promtool not found: CI must install Debian's prometheus package")
	} else {
		t.Log("promtool not on PATH: metrics not linted")
	}
	for _, want := range []string{
		"syft_sidecar_handler_streams 1",
		`syft_sidecar_request_duration_seconds_count{app="echo",endpoint="/echo"} 1`,
		`syft_sidecar_requests_received_total{app="echo",endpoint="/echo"} 1`,
		"grpc_server_started_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// --pprof serves Go's profiles, lock contention sampled among them: the
// figure that says whether the sidecar could use more cores.
func TestPprof(t *testing.T) {
	addr := sidecartest.FreeAddr(t)
	e := newEnv(t)
	e.flags = []string{"--metrics-listen", addr, "--pprof"}
	e.start()
	var body string
	sidecartest.WaitFor(t, 10*time.Second, "/debug/pprof/mutex", func() bool {
		resp, err := http.Get("http://" + addr + "/debug/pprof/mutex?debug=1")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		body = string(b)
		return resp.StatusCode == 200
	})
	// Without sampling the profile is served, empty, at period 0.
	if !strings.Contains(body, "sampling period=10\n") {
		t.Errorf("mutex profile not sampled one in 10:\n%.300s", body)
	}
}

// runtimeCase is a runtime setting given by flag, environment or neither,
// and what the Go collector's metric then reads.
type runtimeCase struct {
	name, env string
	flags     []string
	want      string
}

// mustReadRuntimeSetting starts a sidecar for each case, with env set to the
// case's, and checks the metric.
func mustReadRuntimeSetting(t *testing.T, env, sample string, cases []runtimeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(env, tc.env)
			addr := sidecartest.FreeAddr(t)
			e := newEnv(t, append([]string{"--metrics-listen", addr}, tc.flags...)...)
			e.start()
			// The gRPC socket listens before /metrics does.
			sidecartest.WaitFor(t, 10*time.Second, "/metrics", func() bool {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			})
			if got := metric(t, addr, sample); got != tc.want {
				t.Fatalf("%s = %q, want %s", sample, got, tc.want)
			}
		})
	}
}

// The heap's soft limit: 128MiB unless the flag says otherwise, and
// GOMEMLIMIT when it is set and the flag is not.
func TestMemoryLimit(t *testing.T) {
	mustReadRuntimeSetting(t, "GOMEMLIMIT", "go_gc_gomemlimit_bytes", []runtimeCase{
		{"default", "", nil, "1.34217728e+08"},
		{"flag", "", []string{"--memory-limit", "1GiB"}, "1.073741824e+09"},
		{"env", "200MiB", nil, "2.097152e+08"},
		{"flag over env", "200MiB", []string{"--memory-limit", "64MiB"}, "6.7108864e+07"},
		{"off", "", []string{"--memory-limit", "off"}, "9.223372036854776e+18"},
	})
}

// The garbage collector's target: 400% unless the flag says otherwise, and
// GOGC when it is set and the flag is not.
func TestGCPercent(t *testing.T) {
	mustReadRuntimeSetting(t, "GOGC", "go_gc_gogc_percent", []runtimeCase{
		{"default", "", nil, "400"},
		{"flag", "", []string{"--gc-percent", "150"}, "150"},
		{"env", "250", nil, "250"},
		{"flag over env", "250", []string{"--gc-percent", "100"}, "100"},
		// runtime/metrics reports off as the largest uint64.
		{"off", "", []string{"--gc-percent", "off"}, "1.8446744073709552e+19"},
	})
}

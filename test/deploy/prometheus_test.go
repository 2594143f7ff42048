package deploy

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/sidecartest"
)

// scrapeTimeout bounds the wait for a value to show in Prometheus: its first
// scrape comes some seconds after it starts, then one every second.
const scrapeTimeout = 30 * time.Second

// TestPrometheus has a real Prometheus scrape a real sidecar every second
// while the echo handler answers requests, and reads the answered-requests
// counter and the latency histogram back through Prometheus's query API.
func TestPrometheus(t *testing.T) {
	prometheus := mustTool(t, "prometheus")

	d := sidecartest.MustDataDir(t)
	sock := filepath.Join(d.Path, "s.sock")
	metrics := sidecartest.FreeAddr(t)
	sidecartest.MustStartSidecar(t, sock, "--data-dir", d.Path, "--email", owner, "--listen", "unix://"+sock,
		"--metrics-listen", metrics)
	sidecartest.WaitFor(t, startTimeout, "sidecar ready on "+metrics, func() bool {
		resp, err := http.Get("http://" + metrics + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	sidecartest.MustStartEcho(t, "unix://"+sock, "echo")
	d.MustRegistered(t, "echo", "/echo")

	prom := mustPrometheus(t, prometheus, metrics)
	sidecartest.WaitFor(t, scrapeTimeout, "first scrape", func() bool { return prom.value(t, `up{job="syft-sidecar"}`) == 1 })

	// Two batches with a scrape between them: the series appear with the
	// first answer, and rate() needs an increase between two samples, as a
	// dashboard's latency panel would see.
	const n = 10
	answered := `sum(syft_sidecar_responses_written_total{app="echo",code="200"})`
	for batch := 1; batch <= 2; batch++ {
		for i := range n / 2 {
			mustEcho(t, d, "echo", fmt.Appendf(nil, `{"batch":%d,"i":%d}`, batch, i), -1)
		}
		want := float64(batch * n / 2)
		sidecartest.WaitFor(t, scrapeTimeout, fmt.Sprintf("%s == %v", answered, want), func() bool { return prom.value(t, answered) == want })
	}

	if got := prom.value(t, `sum(syft_sidecar_request_duration_seconds_count{app="echo",endpoint="/echo"})`); got != n {
		t.Errorf("latency histogram count = %v, want %d", got, n)
	}
	p90 := `histogram_quantile(0.9, sum by (le) (rate(syft_sidecar_request_duration_seconds_bucket{app="echo"}[1m])))`
	var q float64
	sidecartest.WaitFor(t, scrapeTimeout, "a number from "+p90, func() bool {
		q = prom.value(t, p90)
		return !math.IsNaN(q)
	})
	t.Logf("%s = %v", p90, q)
	// The buckets end at 60 s; an echo over a local folder takes far less.
	if q <= 0 || q > 60 {
		t.Errorf("%s = %v, want a latency in (0, 60] seconds", p90, q)
	}
}

// promServer is a Prometheus started by the test.
type promServer struct{ addr string }

// mustPrometheus starts Prometheus on a free loopback port with its storage
// in a temp folder, scraping target every second, and waits until it is
// ready.
func mustPrometheus(t *testing.T, prometheus, target string) promServer {
	t.Helper()
	dir := t.TempDir() // removed after Prometheus is stopped: cleanups run last first
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: syft-sidecar
    static_configs:
      - targets: [%q]
`, target), 0o644); err != nil {
		t.Fatal(err)
	}
	p := promServer{addr: sidecartest.FreeAddr(t)}
	sidecartest.MustStart(t, exec.Command(prometheus, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr, "--log.level=warn"))
	sidecartest.WaitFor(t, startTimeout, "Prometheus ready on "+p.addr, func() bool {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// value runs an instant query that must give at most one sample and returns
// its value, or NaN when the result is empty.
func (p promServer) value(t *testing.T, query string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode answer to %s: %v", query, err)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" || len(r.Data.Result) > 1 {
		t.Fatalf("query %s: status %s, error %q, %s of %d", query, r.Status, r.Error, r.Data.ResultType, len(r.Data.Result))
	}
	if len(r.Data.Result) == 0 {
		return math.NaN()
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %q: %v", query, s, err)
	}
	return v
}

// TestPrometheusConfig: the scrape config compose.yaml gives Prometheus is
// one Prometheus accepts.
func TestPrometheusConfig(t *testing.T) {
	promtool := mustTool(t, "promtool")
	mustRun(t, promtool, "check", "config", filepath.Join(repoRoot(t), "deploy", "docker", "prometheus.yml"))
}

package manifests

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

var composeFile = filepath.Join("..", "..", "..", "deploy", "docker", "compose.yaml")

// mustCompose loads compose.yaml as docker compose or podman compose would,
// with env as the only environment.
func mustCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	p, err := loadCompose(env...)
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

func loadCompose(env ...string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithEnv(env), cli.WithResolvedPaths(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func TestCompose(t *testing.T) {
	for _, tc := range []struct {
		name, dataDir string
		wantType      string // of the /data mount
		wantSource    string
	}{
		{"named volume", "", types.VolumeTypeVolume, "syftbox"},
		{"SyftBox folder", "/srv/syftbox", types.VolumeTypeBind, "/srv/syftbox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"SYFTBOX_EMAIL=bob@example.com"}
			if tc.dataDir != "" {
				env = append(env, "SYFTBOX_DATA_DIR="+tc.dataDir)
			}
			p := mustCompose(t, env...)
			if got := slices.Sorted(slices.Values(p.ServiceNames())); !slices.Equal(got, []string{"app", "prometheus", "sidecar"}) {
				t.Fatalf("services = %v", got)
			}
			sidecar, app := p.Services["sidecar"], p.Services["app"]

			// Both see the same data dir at /data, the image's SYFTBOX_DATA_DIR.
			for _, s := range []types.ServiceConfig{sidecar, app} {
				m := mustMount(t, s, "/data")
				if m.Type != tc.wantType || m.Source != tc.wantSource {
					t.Errorf("%s: /data is %s %q, want %s %q", s.Name, m.Type, m.Source, tc.wantType, tc.wantSource)
				}
			}
			if sidecar.User != app.User || sidecar.User != "65532:65532" {
				t.Errorf("users: sidecar %q, app %q; want both 65532:65532 (the socket is mode 0600)", sidecar.User, app.User)
			}
			if got := sidecar.Environment["SYFTBOX_EMAIL"]; got == nil || *got != "bob@example.com" {
				t.Errorf("sidecar SYFTBOX_EMAIL = %v", got)
			}
			// The sidecar's default socket, beneath the shared /data.
			if got := app.Environment["SYFT_SIDECAR_ADDR"]; got == nil || *got != "unix:///data/.syft-sidecar/sidecar.sock" {
				t.Errorf("app SYFT_SIDECAR_ADDR = %v", got)
			}
			if d, ok := app.DependsOn["sidecar"]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("app depends on sidecar = %+v, want condition %s", d, types.ServiceConditionHealthy)
			}
			if g := sidecar.StopGracePeriod; g == nil || *g <= types.Duration(10e9) {
				t.Errorf("sidecar stop_grace_period = %v, want more than its 10s --drain-timeout", g)
			}
		})
	}
}

// TestComposeNeedsEmail: without the owner the sidecar cannot start, so the
// file refuses to load and says what to set.
func TestComposeNeedsEmail(t *testing.T) {
	_, err := loadCompose()
	if err == nil || !strings.Contains(err.Error(), "SYFTBOX_EMAIL") {
		t.Fatalf("load without SYFTBOX_EMAIL: %v, want an error naming it", err)
	}
}

// TestComposePrometheus: Prometheus gets deploy/docker/prometheus.yml, which
// scrapes the sidecar service on the port the image serves metrics on.
func TestComposePrometheus(t *testing.T) {
	p := mustCompose(t, "SYFTBOX_EMAIL=bob@example.com")
	m := mustMount(t, p.Services["prometheus"], "/etc/prometheus/prometheus.yml")
	data, err := os.ReadFile(m.Source)
	if err != nil {
		t.Fatalf("prometheus config: %v", err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parse %s: %v", m.Source, err)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !slices.Contains(targets, "sidecar:9464") {
		t.Fatalf("scrape targets = %v, want sidecar:9464", targets)
	}
}

func mustMount(t *testing.T, s types.ServiceConfig, target string) types.ServiceVolumeConfig {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			return v
		}
	}
	t.Fatalf("%s: nothing mounted at %s", s.Name, target)
	return types.ServiceVolumeConfig{}
}

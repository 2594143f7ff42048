package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var kubernetesDir = filepath.Join("..", "..", "..", "deploy", "kubernetes")

// objects are the manifests in deploy/kubernetes, one object per file.
type objects struct {
	deployments []*appsv1.Deployment
	claims      []*corev1.PersistentVolumeClaim
}

// mustObjects decodes every manifest strictly into its API type: a field
// the type does not have, a value of the wrong type or a duplicate key fails.
func mustObjects(t *testing.T) objects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", kubernetesDir, err)
	}
	var o objects
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(data, &tm); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			d := new(appsv1.Deployment)
			o.deployments, obj = append(o.deployments, d), d
		case "v1 PersistentVolumeClaim":
			c := new(corev1.PersistentVolumeClaim)
			o.claims, obj = append(o.claims, c), c
		default:
			t.Fatalf("%s: %s %s: no API type to check it against here", f, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(data, obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return o
}

func TestKubernetes(t *testing.T) {
	o := mustObjects(t)
	if len(o.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(o.deployments))
	}
	d := o.deployments[0]
	spec := d.Spec.Template.Spec

	if r := d.Spec.Replicas; r == nil || *r != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %v, strategy %q: want 1 and Recreate, one sidecar per datasite at any time", r, d.Spec.Strategy.Type)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod's labels", k, v)
		}
	}

	// The sidecar is a native sidecar: an init container that keeps running.
	if len(spec.InitContainers) != 1 {
		t.Fatalf("%d init containers, want the sidecar alone", len(spec.InitContainers))
	}
	sidecar := spec.InitContainers[0]
	if p := sidecar.RestartPolicy; p == nil || *p != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar restartPolicy = %v, want Always", p)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want the app alone", len(spec.Containers))
	}
	app := spec.Containers[0]

	// Probes on the metrics port, the one the scrape annotations name.
	metrics := mustPort(t, sidecar, "metrics")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startupProbe", sidecar.StartupProbe, "/readyz"},
		{"readinessProbe", sidecar.ReadinessProbe, "/readyz"},
		{"livenessProbe", sidecar.LivenessProbe, "/healthz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("sidecar %s: want an HTTP GET of %s", p.name, p.path)
			continue
		}
		if g := p.probe.HTTPGet; g.Path != p.path || g.Port != intstr.FromString("metrics") {
			t.Errorf("sidecar %s: GET %s on %s, want %s on metrics", p.name, g.Path, g.Port.String(), p.path)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(metrics)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v, want scrape true, port %d, path /metrics", ann, metrics)
	}
	if metrics != 9464 {
		t.Errorf("metrics port %d, want 9464, where the image serves them", metrics)
	}

	// The sidecar serves the data dir at /data (the image's SYFTBOX_DATA_DIR)
	// and its socket where the app dials it, on a volume both mount.
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range []corev1.Container{sidecar, app} {
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s mounts volume %q, which the pod does not have", c.Name, m.Name)
			}
		}
	}
	data := mustMountAt(t, sidecar, "/data")
	claim := volumes[data.Name].PersistentVolumeClaim
	if claim == nil || !slices.ContainsFunc(o.claims, func(c *corev1.PersistentVolumeClaim) bool { return c.Name == claim.ClaimName }) {
		t.Errorf("the data dir is %+v, want a PersistentVolumeClaim from deploy/kubernetes", volumes[data.Name])
	}
	listen := mustArg(t, sidecar, "--listen=")
	addr := mustEnv(t, app, "SYFT_SIDECAR_ADDR")
	if listen != addr || !strings.HasPrefix(addr, "unix://") {
		t.Fatalf("sidecar listens on %q, app dials %q", listen, addr)
	}
	sockDir := filepath.Dir(strings.TrimPrefix(addr, "unix://"))
	sm, am := mustMountAt(t, sidecar, sockDir), mustMountAt(t, app, sockDir)
	if sm.Name != am.Name || volumes[sm.Name].EmptyDir == nil {
		t.Errorf("socket folder %s: sidecar mounts %q, app %q; want one emptyDir", sockDir, sm.Name, am.Name)
	}

	// The images' user, so the app can open the mode-0600 socket.
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.FSGroup == nil || *sc.FSGroup != 65532 {
		t.Errorf("pod securityContext %+v, want runAsUser and fsGroup 65532", sc)
	}
	for _, c := range []corev1.Container{sidecar, app} {
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			t.Errorf("%s sets its own runAsUser: both must be the pod's", c.Name)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= 10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than the sidecar's 10s --drain-timeout", g)
	}
}

func mustPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("%s has no port named %s", c.Name, name)
	return 0
}

func mustMountAt(t *testing.T, c corev1.Container, path string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m
		}
	}
	t.Fatalf("%s mounts nothing at %s", c.Name, path)
	return corev1.VolumeMount{}
}

func mustArg(t *testing.T, c corev1.Container, prefix string) string {
	t.Helper()
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, prefix); ok {
			return v
		}
	}
	t.Fatalf("%s has no argument %s", c.Name, prefix)
	return ""
}

func mustEnv(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	t.Fatalf("%s has no env %s", c.Name, name)
	return ""
}

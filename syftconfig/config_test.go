package syftconfig_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openmined/syft-sidecar/syftconfig"
)

// MustIsolate points HOME at an empty folder and clears the variables Load
// reads, so no config of the machine running the tests leaks in.
func MustIsolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home) // os.UserHomeDir on Windows
	for _, v := range []string{syftconfig.EnvConfigPath, syftconfig.EnvEmail, syftconfig.EnvDataDir} {
		t.Setenv(v, "")
	}
	return home
}

func MustWriteConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDefaultFile(t *testing.T) {
	home := MustIsolate(t)
	data := filepath.Join(home, "SyftBox")
	path := filepath.Join(home, ".syftbox", "config.json")
	MustWriteConfig(t, path, `{"email": " Bob@Example.com ", "data_dir": `+quote(data)+`, "server_url": "x"}`)
	c, err := syftconfig.Load(syftconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != "bob@example.com" || c.DataDir != data || c.Path != path {
		t.Fatalf("Load = %+v", c)
	}
	if got, want := c.DatasitesDir(), filepath.Join(data, "datasites"); got != want {
		t.Errorf("DatasitesDir = %q, want %q", got, want)
	}
	sock := filepath.Join(data, syftconfig.StateDirName, syftconfig.SocketName)
	want := "unix://" + sock
	if runtime.GOOS == "windows" {
		want = "unix:" + filepath.ToSlash(sock)
	}
	if got := c.DefaultAddress(); got != want {
		t.Errorf("DefaultAddress = %q, want %q", got, want)
	}
}

func TestLoadPrecedence(t *testing.T) {
	home := MustIsolate(t)
	named := filepath.Join(home, "named.json")
	MustWriteConfig(t, named, `{"email": "file@example.com", "sync_folder": "/from/sync_folder"}`)
	envFile := filepath.Join(home, "env.json")
	MustWriteConfig(t, envFile, `{"email": "envfile@example.com", "data_dir": "/from/env/file"}`)

	t.Setenv(syftconfig.EnvConfigPath, envFile)
	c, err := syftconfig.Load(syftconfig.Overrides{ConfigPath: named})
	if err != nil {
		t.Fatal(err)
	}
	// The named file wins over the variable; sync_folder is data_dir's old name.
	if c.Path != named || c.Email != "file@example.com" || c.DataDir != abs(t, "/from/sync_folder") {
		t.Fatalf("named file: %+v", c)
	}

	t.Setenv(syftconfig.EnvEmail, "env@example.com")
	t.Setenv(syftconfig.EnvDataDir, "/from/env")
	c, err = syftconfig.Load(syftconfig.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	// The variables win over the file $SYFTBOX_CLIENT_CONFIG_PATH names.
	if c.Path != envFile || c.Email != "env@example.com" || c.DataDir != abs(t, "/from/env") {
		t.Fatalf("environment: %+v", c)
	}

	c, err = syftconfig.Load(syftconfig.Overrides{Email: "flag@example.com", DataDir: "~/flag"})
	if err != nil {
		t.Fatal(err)
	}
	// Overrides win over everything; ~ is the home folder.
	if c.Email != "flag@example.com" || c.DataDir != filepath.Join(home, "flag") {
		t.Fatalf("overrides: %+v", c)
	}
}

func TestLoadWithoutFile(t *testing.T) {
	MustIsolate(t)
	c, err := syftconfig.Load(syftconfig.Overrides{Email: "a@b.co", DataDir: "rel"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "" || c.DataDir != abs(t, "rel") {
		t.Fatalf("Load = %+v, want no file and an absolute data dir", c)
	}
}

func TestLoadRejects(t *testing.T) {
	home := MustIsolate(t)
	bad := filepath.Join(home, "bad.json")
	MustWriteConfig(t, bad, `{"email": `)
	for _, tt := range []struct {
		name  string
		o     syftconfig.Overrides
		want  string
		noCfg bool
	}{
		{"nothing", syftconfig.Overrides{}, "pass --email and --data-dir", true},
		{"no email", syftconfig.Overrides{DataDir: "/d"}, "no email", true},
		{"no data dir", syftconfig.Overrides{Email: "a@b.co"}, "no data dir", true},
		{"bad email", syftconfig.Overrides{Email: "not-an-email", DataDir: "/d"}, `invalid email "not-an-email"`, false},
		{"named file missing", syftconfig.Overrides{ConfigPath: filepath.Join(home, "none.json")}, "read syftbox config", false},
		{"named file not JSON", syftconfig.Overrides{ConfigPath: bad}, "parse syftbox config", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := syftconfig.Load(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, syftconfig.ErrNoConfig) != tt.noCfg {
				t.Fatalf("Load(%+v) = %v, want an error containing %q (ErrNoConfig: %v)", tt.o, err, tt.want, tt.noCfg)
			}
		})
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"`
}

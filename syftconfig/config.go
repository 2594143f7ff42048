// Package syftconfig finds the SyftBox client configuration (the owner's email
// and data dir) the way syft-core does, and derives the sidecar's default
// address from it, so a sidecar and an app that share a config need no
// address at all.
package syftconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openmined/syft-sidecar/rpcpath"
)

// Environment variables read by Load, as syft-core names them.
const (
	EnvConfigPath = "SYFTBOX_CLIENT_CONFIG_PATH"
	EnvEmail      = "SYFTBOX_EMAIL"
	EnvDataDir    = "SYFTBOX_DATA_DIR"
	// EnvSidecarAddr overrides the derived sidecar address in clients.
	EnvSidecarAddr = "SYFT_SIDECAR_ADDR"
)

// StateDirName is the sidecar's own folder under the data dir. SyftBox syncs
// only datasites/, so nothing in it leaves the machine.
const StateDirName = ".syft-sidecar"

// SocketName is the default socket's file name inside StateDirName.
const SocketName = "sidecar.sock"

// ErrNoConfig means no config file was found and no override gave the values.
var ErrNoConfig = errors.New("no syftbox config")

// Config is what the sidecar needs from the SyftBox client config.
type Config struct {
	Email   string // lower-cased
	DataDir string // absolute
	Path    string // the config file read, if any
}

// Overrides are values given on the command line; empty means unset.
type Overrides struct {
	ConfigPath string
	Email      string
	DataDir    string
}

// file is the subset of the SyftBox config JSON we read. syft-core accepts
// sync_folder as an older name of data_dir.
type file struct {
	Email      string `json:"email"`
	DataDir    string `json:"data_dir"`
	SyncFolder string `json:"sync_folder"`
}

// Load resolves the config: the file from o.ConfigPath, else
// $SYFTBOX_CLIENT_CONFIG_PATH, else ~/.syftbox/config.json; then
// $SYFTBOX_EMAIL / $SYFTBOX_DATA_DIR; then o.Email / o.DataDir. A missing file
// is only an error when the overrides leave a value unset, or when the file
// was named explicitly.
func Load(o Overrides) (Config, error) {
	var c Config
	path, explicit := o.ConfigPath, o.ConfigPath != ""
	if path == "" {
		path, explicit = os.Getenv(EnvConfigPath), os.Getenv(EnvConfigPath) != ""
	}
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".syftbox", "config.json")
		}
	}
	if path != "" {
		f, err := readFile(path)
		switch {
		case err == nil:
			c.Email, c.DataDir, c.Path = f.Email, f.DataDir, path
			if c.DataDir == "" {
				c.DataDir = f.SyncFolder
			}
		case explicit || !errors.Is(err, os.ErrNotExist):
			return Config{}, err
		}
	}
	if v := os.Getenv(EnvEmail); v != "" {
		c.Email = v
	}
	if v := os.Getenv(EnvDataDir); v != "" {
		c.DataDir = v
	}
	if o.Email != "" {
		c.Email = o.Email
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if c.Email == "" && c.DataDir == "" {
		return Config{}, fmt.Errorf("%w: pass --email and --data-dir, or --config", ErrNoConfig)
	}
	if c.Email == "" {
		return Config{}, fmt.Errorf("%w: no email: pass --email or set %s", ErrNoConfig, EnvEmail)
	}
	if c.DataDir == "" {
		return Config{}, fmt.Errorf("%w: no data dir: pass --data-dir or set %s", ErrNoConfig, EnvDataDir)
	}
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
	if !rpcpath.IsEmail(c.Email) {
		return Config{}, fmt.Errorf("invalid email %q", c.Email)
	}
	dir, err := filepath.Abs(expandHome(c.DataDir))
	if err != nil {
		return Config{}, fmt.Errorf("resolve data dir: %w", err)
	}
	c.DataDir = dir
	return c, nil
}

func readFile(path string) (file, error) {
	var f file
	b, err := os.ReadFile(expandHome(path))
	if err != nil {
		return f, fmt.Errorf("read syftbox config: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("parse syftbox config %s: %w", path, err)
	}
	return f, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// DatasitesDir is where the synced datasites live.
func (c Config) DatasitesDir() string { return filepath.Join(c.DataDir, "datasites") }

// StateDir is the sidecar's private folder under the data dir.
func (c Config) StateDir() string { return filepath.Join(c.DataDir, StateDirName) }

// DefaultAddress is the address a sidecar listens on when given none, and
// where clients that share its config look for it.
func (c Config) DefaultAddress() string {
	return unixTarget(filepath.Join(c.StateDir(), SocketName))
}

// unixTarget is the gRPC target of the unix socket at the absolute path p:
// unix:///path, or on Windows unix:C:/path, since gRPC reads the host part
// of unix://C:\path as a host and port and fails.
func unixTarget(p string) string {
	if filepath.Separator == '\\' {
		return "unix:" + filepath.ToSlash(p)
	}
	return "unix://" + p
}

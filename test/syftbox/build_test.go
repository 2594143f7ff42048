package syftbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The SyftBox release the suite runs against: the newest the Go module proxy
// serves. The module is downloaded and built inside its own folder, with its
// own go.mod and go.sum (`go install ...@v0.8.7` did not build it here).
const (
	syftboxModule  = "github.com/openmined/syftbox"
	syftboxVersion = "v0.8.7"
)

// syftboxBinaries returns the SyftBox server and client, building them once
// into a cache folder ($SYFTBOX_BIN_DIR, else the user cache dir) so that
// later runs, and CI runs that keep the cache, skip the build.
func syftboxBinaries() (server, client string, err error) {
	dir := os.Getenv("SYFTBOX_BIN_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("find cache dir: %w", err)
		}
		dir = filepath.Join(cache, "syft-sidecar", "syftbox-"+syftboxVersion)
	}
	server, client = filepath.Join(dir, "server"), filepath.Join(dir, "client")
	if isExecutable(server) && isExecutable(client) {
		return server, client, nil
	}
	start := time.Now()
	var out bytes.Buffer
	dl := exec.Command("go", "mod", "download", "-json", syftboxModule+"@"+syftboxVersion)
	dl.Stdout, dl.Stderr = &out, os.Stderr
	dl.Env = goEnv()
	if err := dl.Run(); err != nil {
		return "", "", fmt.Errorf("download %s@%s: %w: %s", syftboxModule, syftboxVersion, err, out.Bytes())
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &mod); err != nil || mod.Dir == "" {
		return "", "", fmt.Errorf("download %s@%s: %v %s", syftboxModule, syftboxVersion, err, mod.Error)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	// Built beside the cache and renamed in, so a killed build leaves no
	// half-written binary that a later run would take for a good one.
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	build := exec.Command("go", "build", "-trimpath", "-o", tmp+string(filepath.Separator), "./cmd/server", "./cmd/client")
	build.Dir = mod.Dir // read-only in the module cache; -o writes elsewhere
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = goEnv()
	if err := build.Run(); err != nil {
		return "", "", fmt.Errorf("build syftbox in %s: %w", mod.Dir, err)
	}
	for _, name := range []string{"server", "client"} {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return "", "", err
		}
	}
	log.Printf("built syftbox %s server and client in %s into %s", syftboxVersion, time.Since(start).Round(time.Second), dir)
	return server, client, nil
}

// goEnv builds the SyftBox module as its own go.mod says, whatever the
// caller's workspace or -mod flag: the module cache is read-only.
func goEnv() []string {
	return append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=0")
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

package bridge

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// File names inside an app's rpc folder.
const (
	permFile   = "syft.pub.yaml"
	schemaFile = "rpc.schema.json"
	keepFile   = syftrpc.KeepFile
	// maxPermBytes bounds the read of a permission file: ours is a few
	// hundred bytes, and one much larger is the user's, kept as it is.
	maxPermBytes = 1 << 20
)

// app is one served app. name, rpcDir and root never change; the rest is
// the dispatcher's and guarded by its lock.
type app struct {
	name   string
	rpcDir string
	root   *safefs.Root

	since     time.Time // first registration, start of the 404 grace period
	graceOver bool
	endpoints map[string]*endpoint
	order     []*endpoint // declaration order, as rpc.schema.json lists them
	unrouted  []*pending  // requests for endpoints nobody declared yet
	unknown   *metrics.Endpoint

	schemaMu sync.Mutex // one rpc.schema.json writer at a time
	cleanup  appCleanup
}

// openApp returns the app, creating its rpc folder, permission file and
// watch on first use. created says whether this call made it.
func (b *Bridge) openApp(name string) (a *app, created bool, err error) {
	if v, ok := b.apps.Load(name); ok {
		return v.(*app), false, nil
	}
	b.appsMu.Lock()
	defer b.appsMu.Unlock()
	if v, ok := b.apps.Load(name); ok {
		return v.(*app), false, nil
	}
	rel := path.Join("app_data", name, "rpc")
	if err := b.ownerRoot.MkdirAll(rel, 0o755); err != nil {
		return nil, false, fmt.Errorf("create rpc folder: %w", err)
	}
	root, err := b.ownerRoot.OpenRoot(rel)
	if err != nil {
		return nil, false, fmt.Errorf("open rpc folder: %w", err)
	}
	a = &app{
		name:      name,
		rpcDir:    filepath.Join(b.appDataDir, name, "rpc"),
		root:      root,
		endpoints: make(map[string]*endpoint),
	}
	a.unknown = b.metrics.ForEndpoint(name, metrics.UnknownEndpoint)
	a.cleanup.expiry, a.cleanup.interval = b.cfg.CleanupExpiry, b.cfg.CleanupInterval
	if err := writePermissions(root); err != nil {
		b.logger.Warn("write permission file", "app", name, "err", err)
	}
	b.apps.Store(name, a)
	return a, true, nil
}

// writePermissions writes syft.pub.yaml unless the user has edited it. A
// file that some syft-event version generated is replaced by ours.
func writePermissions(root *safefs.Root) error {
	old, err := root.ReadFile(permFile, maxPermBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case !syftrpc.PermissionAction(old):
		return nil
	}
	return root.WriteFile(permFile, []byte(syftrpc.Permissions), 0o644)
}

// prepareEndpoint creates the endpoint's folder with its .syftkeep marker,
// so that sync keeps the folder while it is empty.
func prepareEndpoint(root *safefs.Root, ep string) error {
	rel := ep[1:]
	if err := root.MkdirAll(rel, 0o755); err != nil {
		return err
	}
	err := root.CreateNew(rel+"/"+keepFile, nil, 0o644)
	if errors.Is(err, safefs.ErrExist) {
		return nil
	}
	return err
}

// writeSchema publishes rpc.schema.json for the endpoints declared so far
// with a schema. With none, no file is written (a file already there is
// the user's or an earlier run's, and stays).
func (b *Bridge) writeSchema(a *app) {
	a.schemaMu.Lock()
	defer a.schemaMu.Unlock()
	entries := b.d.schema(a)
	if len(entries) == 0 {
		return
	}
	data, err := syftrpc.FormatSchema(entries)
	if err != nil {
		b.logger.Warn("format schema", "app", a.name, "err", err)
		return
	}
	if err := a.root.WriteFile(schemaFile, data, 0o644); err != nil {
		b.logger.Warn("write schema", "app", a.name, "err", err)
	}
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

package bridge

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/openmined/syft-sidecar/internal/cleanup"
	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// File names inside an app's rpc folder.
const (
	permFile   = "syft.pub.yaml"
	schemaFile = "rpc.schema.json"
	keepFile   = rpcpath.KeepFile
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
	schema   []byte     // what rpc.schema.json was last written with
	cleanup  appCleanup
	// known is what the cleanup need not read again: the created time of
	// each request it read or the dispatcher answered (nil: none kept).
	known *cleanup.Known
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

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

package bridge

import (
	"errors"
	"path"
	"sync"

	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/rpcpath"
)

// maxKept bounds the sender folders remembered as holding a .syftkeep; past
// it the memory starts over, which costs one CreateNew that finds the file.
const maxKept = 100_000

// senderKeeps is the set of sender folders known to hold a .syftkeep.
type senderKeeps struct {
	mu   sync.Mutex
	seen map[keepKey]struct{}
}

// keepKey is a sender folder: dir in root.
type keepKey struct {
	root *safefs.Root
	dir  string
}

// forget drops what is remembered, after a cleanup that may have removed
// some of the folders.
func (k *senderKeeps) forget() {
	k.mu.Lock()
	k.seen = nil
	k.mu.Unlock()
}

// keepSenderFolder puts a .syftkeep into the sender folder dir of root, once.
//
// Why: the SyftBox client (v0.8.7) removes a folder that its sync leaves
// empty (cleanupEmptyParentDirs), which happens to a sender folder each time
// the sender's syft-rpc deletes its request and response after reading
// them; and its watcher does not watch the folder when it is made again. From
// then on no response in it makes a write event the client hears, and each
// waits for the 5 s standard sync instead of the priority path. A folder
// that holds .syftkeep is never empty. SyftBox's default ignore list has
// .syftkeep, so the file stays on this machine; the sidecar's cleanup takes
// it away with the folder once the folder is otherwise empty and idle past
// the expiry.
func (k *senderKeeps) keepSenderFolder(root *safefs.Root, dir string) {
	if !rpcpath.IsEmail(path.Base(dir)) {
		return // the legacy layout: the endpoint folder has its own
	}
	key := keepKey{root, dir}
	k.mu.Lock()
	_, done := k.seen[key]
	k.mu.Unlock()
	if done {
		return
	}
	err := root.CreateNew(path.Join(dir, keepFile), nil, 0o644)
	if err != nil && !errors.Is(err, safefs.ErrExist) {
		return // tried again with the folder's next response
	}
	k.mu.Lock()
	if k.seen == nil || len(k.seen) >= maxKept {
		k.seen = map[keepKey]struct{}{}
	}
	k.seen[key] = struct{}{}
	k.mu.Unlock()
}

//go:build !linux

package safefs

// Root is an open folder. Paths given to its methods are slash-separated and
// relative to it; ".." and symbolic links anywhere on the way are refused.
// Where openat2 is missing it is portableRoot, built on os.Root.
type Root = portableRoot

// OpenRoot opens dir. dir itself may be reached through symbolic links: it is
// configuration, not something a peer controls.
func OpenRoot(dir string) (*Root, error) { return openPortableRoot(dir) }

//go:build unix && !darwin && !linux

package safefs

import (
	"errors"
	"os"
)

// renameExclusive: the BSDs have no rename that refuses to replace, and a
// link failed already. Responses there need a filesystem with hard links.
func renameExclusive(_ *os.Root, from, to string) error {
	return &os.LinkError{Op: "link", Old: from, New: to, Err: errors.ErrUnsupported}
}

package safefs_test

import (
	"strings"
	"testing"

	"github.com/openmined/syft-sidecar/internal/safefs"
)

// root is what the tests use of a Root, so that they run against both
// implementations: the platform's (openat2 on Linux) and the portable one
// (os.Root), which macOS and Windows use and Linux tests here.
type root interface {
	Path() string
	Close() error
	ReadFile(rel string, limit int64) ([]byte, error)
	ReadFileStamp(rel string, limit int64) ([]byte, safefs.Stamp, error)
	Exists(rel string) (bool, error)
	CreateNew(rel string, data []byte, perm uint32) error
	WriteFile(rel string, data []byte, perm uint32) error
	MkdirAll(rel string, perm uint32) error
	ReadDir(rel string) ([]safefs.Entry, error)
	Remove(rel string) error
	RemoveEmptyDir(rel string) error
}

// suite is every test that holds for both implementations alike.
var suite = map[string]func(*testing.T){
	"CreateNewNeverReplaces":     TestCreateNewNeverReplaces,
	"CreateNewWrites":            TestCreateNewWrites,
	"SymlinksAreNotFollowed":     TestSymlinksAreNotFollowed,
	"InsideLinksAreNotFollowed":  TestInsideLinksAreNotFollowed,
	"ReadDirAndRemove":           TestReadDirAndRemove,
	"CreateNewConcurrentlyOnce":  TestCreateNewConcurrentlyOnce,
	"MkdirAllRefusesLinkedParts": TestMkdirAllRefusesLinkedParts,
	"ReadFileRefusesNonRegular":  TestReadFileRefusesNonRegular,
	"ReadFileLimit":              TestReadFileLimit,
	"ReadFileRefusesHardLinks":   TestReadFileRefusesHardLinks,
	"StampsAgree":                TestStampsAgree,
}

const portablePrefix = "TestPortable/"

// TestPortable runs the suite against the portable Root.
func TestPortable(t *testing.T) {
	for name, test := range suite {
		t.Run(name, test)
	}
}

func openerFor(t *testing.T) func(string) (root, error) {
	if strings.HasPrefix(t.Name(), portablePrefix) {
		return func(dir string) (root, error) { return safefs.OpenPortableRoot(dir) }
	}
	return func(dir string) (root, error) { return safefs.OpenRoot(dir) }
}

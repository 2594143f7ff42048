package syftbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// bob shares a folder with alice (read for all, write and admin for her).
// A file alice writes there reaches a Watch on bob's side through the sync,
// and when alice changes the folder's syft.pub.yaml, the copy that the sync
// renames over bob's gives his listener SHARE.
func TestFileEventsThroughSync(t *testing.T) {
	world.sidecar(t)
	shared := filepath.Join(world.bob.datasite(bobEmail), "shared")
	perm := filepath.Join(shared, "syft.pub.yaml")
	MustWriteFile(t, perm, "rules:\n- pattern: '**'\n  access:\n    read: ['*']\n    write: ['"+aliceEmail+"']\n    admin: ['"+aliceEmail+"']\n")
	MustWait(t, 30*time.Second, "bob's shared/syft.pub.yaml uploaded", func() bool {
		return world.bob.proc.logHas("op=WriteRemote", "path="+bobEmail+"/shared/syft.pub.yaml ")
	})

	watch := world.bob.run(t, listenBin, "--watch", "{datasite}/shared/**")
	listener := world.bob.run(t, listenBin, "--names", "CREATE,SHARE")
	// Both subscriptions are live once a file bob makes shows in both; a
	// new probe every half second, since the first may come before them.
	var last time.Time
	n := 0
	MustWait(t, 20*time.Second, "a probe in bob's watch and listener", func() bool {
		if time.Since(last) > 500*time.Millisecond {
			n++
			MustWriteFile(t, filepath.Join(shared, fmt.Sprintf("probe-%d.txt", n)), "probe")
			last = time.Now()
		}
		return watch.logHas("shared/probe-") && listener.logHas("CREATE", "shared/probe-")
	})

	mine := filepath.Join(world.alice.datasite(bobEmail), "shared", "from-alice.csv")
	MustWriteFile(t, mine, "a,b\n1,2\n")
	MustWait(t, 30*time.Second, "alice's file in bob's watch", func() bool {
		return watch.logHas(bobEmail + "/shared/from-alice.csv")
	})

	// alice edits her synced copy of the permission file; as an admin of
	// the folder the server takes it, and bob's client brings it back.
	alicePerm := filepath.Join(world.alice.datasite(bobEmail), "shared", "syft.pub.yaml")
	MustWait(t, 30*time.Second, "bob's shared/syft.pub.yaml on alice's side", func() bool { return fileExists(alicePerm) })
	changed := "rules:\n- pattern: '**'\n  access:\n    read: ['*']\n    write: ['" + aliceEmail + "']\n    admin: ['" + aliceEmail + "']\n- pattern: '*.csv'\n  access:\n    read: ['" + bobEmail + "']\n"
	MustWriteFile(t, alicePerm, changed)
	MustWait(t, 30*time.Second, "alice's change on bob's side", func() bool {
		b, _ := os.ReadFile(perm)
		return string(b) == changed
	})
	MustWait(t, 10*time.Second, "SHARE for the changed syft.pub.yaml", func() bool {
		return listener.logHas("SHARE", bobEmail+"/shared/syft.pub.yaml")
	})
}

func MustWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

package syftbox

import (
	"testing"
	"time"
)

// alice calls bob's Go echo through the sync; the response goes back on
// the client's priority path.
func TestGoEchoAnsweredOnPriorityPath(t *testing.T) {
	world.bob.startSidecar(t)
	world.bob.run(t, echoBin, "--app", "goecho")
	MustWait(t, 20*time.Second, "goecho to register", func() bool {
		return fileExists(world.bob.datasite(bobEmail) + "/app_data/goecho/rpc/syft.pub.yaml")
	})
	world.waitPermsOnServer(t, "goecho")
	for _, r := range world.call(t, rpcURL("goecho", "echo"), "--count", "3", "--body", "ping") {
		if r.Status != 200 || r.Text != "ping" {
			t.Fatalf("call: %s", r.RawLogLine)
		}
		world.mustPriority(t, r)
	}
}

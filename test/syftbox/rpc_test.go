package syftbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var pyecho = mustAbs("pyecho.py")

// alice calls bob's Go echo through the sync; each response goes back on
// bob's client's priority path (without a write event it waits for the
// standard sync and this fails).
func TestGoEchoAnsweredOnPriorityPath(t *testing.T) {
	world.serve(t, "goecho", echoBin, "--app", "goecho")
	for _, r := range world.call(t, rpcURL("goecho", "echo"), "--count", "3", "--body", "ping") {
		if r.Status != 200 || r.Text != "ping" {
			t.Fatalf("call: %s", r.RawLogLine)
		}
		world.mustPriority(t, r)
	}
}

// The same through the Python client (syft-event's API over the sidecar).
func TestPythonClientAnsweredOnPriorityPath(t *testing.T) {
	world.serve(t, "pyecho", python, pyecho, "pyecho")
	for _, r := range world.call(t, rpcURL("pyecho", "echo"), "--count", "3", "--body", "pong") {
		if r.Status != 200 || r.Text != "pong" {
			t.Fatalf("call: %s", r.RawLogLine)
		}
		world.mustPriority(t, r)
	}
}

// alice's syft-rpc deletes a call's request and response once it has read
// the response; when the deletions reach bob, his client removes the
// emptied sender folder, and its watcher no longer hears writes in the
// folder made again for the next call, so that response would wait for the
// 5 s standard sync. The sidecar keeps a .syftkeep in the folder: a call
// made after the deletions reached bob is still answered on the priority
// path.
func TestPriorityPathAfterTheSenderDeletesItsCall(t *testing.T) {
	world.serve(t, "keepecho", echoBin, "--app", "keepecho")
	first := world.call(t, rpcURL("keepecho", "echo"), "--count", "1", "--body", "one")[0]
	if first.Status != 200 {
		t.Fatalf("call: %s", first.RawLogLine)
	}
	world.mustPriority(t, first)
	rel, err := relResponse(first, world.alice.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	resp := filepath.Join(world.bob.dataDir, "datasites", rel)
	req := strings.TrimSuffix(resp, ".response") + ".request"
	err = waitFor(60*time.Second, "alice's deletion of the first call on bob's side", func() bool {
		return !fileExists(req) && !fileExists(resp)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !fileExists(filepath.Dir(resp)) {
		t.Fatalf("bob's client removed the sender folder %s", filepath.Dir(resp))
	}
	second := world.call(t, rpcURL("keepecho", "echo"), "--count", "1", "--body", "two")[0]
	if second.Status != 200 || second.Text != "two" {
		t.Fatalf("call: %s", second.RawLogLine)
	}
	world.mustPriority(t, second)
}

// A request the server's ACL refuses (bob serves no such app, and his
// datasite's root syft.pub.yaml grants nothing) is marked rejected by
// alice's client, and syft-rpc resolves the call at once instead of
// waiting out its timeout.
func TestRejectedByServerACL(t *testing.T) {
	r := world.call(t, rpcURL("nobody", "echo"), "--timeout", "60")[0]
	mustRejected(t, r)
}

// syft-rpc 0.4.1 looks for the legacy marker ({id}.syftrejected.request)
// while the v0.8.7 client writes {id}.rejected.request: so syft-rpc sees
// neither the request nor a response and reports 404 "not found" rather
// than its 403. Either way the caller learns at once that the call failed.
func mustRejected(t *testing.T, r callResult) {
	t.Helper()
	t.Logf("syft-rpc resolved the refused call: %s", r.RawLogLine)
	if r.Error != "" || r.Status == 200 || r.Status == 0 {
		t.Fatalf("rejected call resolved as %s", r.RawLogLine)
	}
	marker := strings.TrimSuffix(r.Request, ".request") + ".rejected.request"
	MustWait(t, 10*time.Second, "the rejected marker "+marker, func() bool { return fileExists(marker) })
	if fileExists(r.Request) {
		t.Fatalf("the refused request %s is still there", r.Request)
	}
	os.Remove(marker)
}

// A call made before bob's permission file has reached the server is
// refused like any other (and reported); once the file is there, the same
// call is answered. bob's client is stopped meanwhile, so the order is
// certain.
func TestCallBeforePermissionsReachServer(t *testing.T) {
	world.sidecar(t)
	world.bob.stop()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := world.bob.start(); err != nil {
				t.Error(err)
			}
		}
	})
	world.bob.run(t, echoBin, "--app", "late")
	perm := filepath.Join(world.bob.datasite(bobEmail), "app_data", "late", "rpc", "syft.pub.yaml")
	MustWait(t, 20*time.Second, "late to register", func() bool { return fileExists(perm) })

	mustRejected(t, world.call(t, rpcURL("late", "echo"), "--timeout", "60")[0])

	restarted = true
	if err := world.bob.start(); err != nil {
		t.Fatal(err)
	}
	world.waitPermsOnServer(t, "late")
	r := world.call(t, rpcURL("late", "echo"), "--body", "now")[0]
	if r.Status != 200 || r.Text != "now" {
		t.Fatalf("call after the permission file reached the server: %s", r.RawLogLine)
	}
	world.mustPriority(t, r)
}

// Over 4 MB a request and its response leave the priority path and go by
// the standard sync (blob upload); they still arrive whole.
func TestLargeRequestAndResponse(t *testing.T) {
	world.serve(t, "bigecho", echoBin, "--app", "bigecho")
	// base64 makes 3.5 MB of body a request file of about 4.7 MB.
	r := world.call(t, rpcURL("bigecho", "echo"), "--body-size", "3500000", "--timeout", "120")[0]
	if r.Status != 200 || r.BodyLen != 3500000 || r.BodySHA != r.SentSHA {
		t.Fatalf("large call: %s", r.RawLogLine)
	}
	rel, err := relResponse(r, world.alice.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	MustWait(t, 10*time.Second, rel+" on bob's standard sync", func() bool {
		return world.bob.proc.logHas("type=Standard", "op=WriteRemote", "path="+rel+" ")
	})
	if st, err := os.Stat(filepath.Join(world.bob.dataDir, "datasites", rel)); err != nil || st.Size() <= 4<<20 {
		t.Fatalf("response on bob's side: %v, %v (want over 4 MB)", st, err)
	}
}

// The server's HTTP bridge turns a POST into a request file in bob's
// datasite (in alice's sender folder, with suffix-sender) and waits for the
// response file, which the sidecar writes and bob's client sends at once.
func TestHTTPBridge(t *testing.T) {
	world.serve(t, "httpecho", echoBin, "--app", "httpecho")
	q := url.Values{
		"x-syft-url":    {rpcURL("httpecho", "echo")},
		"x-syft-from":   {aliceEmail},
		"suffix-sender": {"true"},
		"timeout":       {"10000"},
	}
	resp, err := http.Post(world.serverURL+"/api/v1/send/msg?"+q.Encode(), "text/plain", strings.NewReader("via http"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		RequestID string `json:"request_id"`
		Data      struct {
			Message struct {
				StatusCode int             `json:"status_code"`
				Body       json.RawMessage `json:"body"`
			} `json:"message"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/send/msg: %s\n%s", resp.Status, body)
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if m := got.Data.Message; m.StatusCode != 200 || string(m.Body) != `"via http"` {
		t.Fatalf("the bridge's answer is not the echo's: %s", body)
	}
	rel := bobEmail + "/app_data/httpecho/rpc/echo/" + aliceEmail + "/" + got.RequestID + ".response"
	MustWait(t, 10*time.Second, rel+" on bob's priority path", func() bool {
		return world.bob.proc.logHas("type=Priority", "op=WriteRemote", "path="+rel+" ")
	})
}

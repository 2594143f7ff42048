package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The inotify watch limit is per user, and the machine's user is shared
// with everything else running as it: lowering fs.inotify.max_user_watches
// for a test starves every other inotify user meanwhile (other test runs,
// editors, the SyftBox client). Since Linux 5.11 the limit is also kept per
// user namespace (/proc/sys/user/max_inotify_watches, counted up the
// namespace tree), so the sidecar runs in a user namespace of its own and
// only its limit is lowered.

// startWatchLimited starts the sidecar in a user namespace of its own whose
// inotify watch limit is limit, and returns a function that sets it anew.
func (e *env) startWatchLimited(limit int) (setLimit func(int)) {
	e.t.Helper()
	if os.Geteuid() != 0 {
		e.t.Skip("needs root to make a user namespace with its own inotify limit")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		e.t.Skip("needs unshare and nsenter (util-linux)")
	}
	if err := exec.Command("unshare", "--user", "--map-root-user", "true").Run(); err != nil {
		e.t.Skipf("cannot make a user namespace: %v", err)
	}
	args := append([]string{
		"--user", "--map-root-user", "--", sidecartest.MustBuild(e.t).Sidecar,
		"--data-dir", e.Path, "--email", owner, "--listen", e.addr(), "--log-level", "debug",
	}, e.flags...)
	// The limit is set before the sidecar watches anything: it adds watches
	// only when a handler registers, after the socket is up.
	e.sidecar = sidecartest.MustStart(e.t, exec.Command("unshare", args...))
	setLimit = func(n int) {
		e.t.Helper()
		cmd := exec.Command("nsenter", "-U", "-t", strconv.Itoa(e.sidecar.Pid()), "sh", "-c",
			"echo "+strconv.Itoa(n)+" > /proc/sys/user/max_inotify_watches")
		if out, err := cmd.CombinedOutput(); err != nil {
			e.t.Fatalf("set the namespace's watch limit: %v\n%s", err, out)
		}
	}
	sidecartest.WaitFor(e.t, sidecartest.StartTimeout, "sidecar socket", func() bool {
		_, err := os.Stat(e.sock)
		return err == nil
	})
	setLimit(limit)
	return setLimit
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With the watch limit reached, folders that cannot be watched are listed
// anyway and polled: every request in them is answered, /readyz says why it
// fails and a gauge counts them; once the limit is raised they are watched
// and /readyz recovers.
func TestUnwatchableFolders(t *testing.T) {
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr)
	// Some requests wait on disk for the handler, in three sender folders.
	var paths []string
	for i := 0; i < 90; i++ {
		r := request{app: "echo", endpoint: "/echo", body: []byte(strconv.Itoa(i))}
		r.sender = []string{"a@example.com", "b@example.com", "c@example.com"}[i%3]
		_, p := e.drop(r)
		paths = append(paths, p)
	}
	// Two watches: the rpc and endpoint folders; no sender folder.
	setLimit := e.startWatchLimited(2)
	e.echo("echo")
	allAnswered(t, paths, 30*time.Second)

	// New requests, in the unwatched folders and in a new one, while the
	// limit still holds: found by polling.
	paths = nil
	for i := 0; i < 90; i++ {
		r := request{app: "echo", endpoint: "/echo", body: []byte(strconv.Itoa(i))}
		r.sender = []string{"a@example.com", "d@example.com", "c@example.com"}[i%3]
		_, p := e.drop(r)
		paths = append(paths, p)
	}
	allAnswered(t, paths, 30*time.Second)

	code, body := get(t, "http://"+maddr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "fs.inotify.max_user_watches") {
		t.Fatalf("/readyz with unwatched folders: %d %q, want 503 naming fs.inotify.max_user_watches", code, body)
	}
	if v := metric(t, maddr, `syft_sidecar_watcher_unwatched_folders{watcher="requests"}`); v != "4" {
		t.Fatalf("unwatched folders gauge = %q, want 4 (a, b, c and d)", v)
	}
	if out := e.sidecar.Output(); !strings.Contains(out, "fs.inotify.max_user_watches") {
		t.Fatal("the warning does not name fs.inotify.max_user_watches")
	}

	// The limit raised: watched at the next poll, and served by events.
	setLimit(1000)
	sidecartest.WaitFor(t, 10*time.Second, "/readyz 200", func() bool {
		code, _ := get(t, "http://"+maddr+"/readyz")
		return code == http.StatusOK
	})
	if v := metric(t, maddr, `syft_sidecar_watcher_unwatched_folders{watcher="requests"}`); v != "0" {
		t.Fatalf("unwatched folders gauge = %q, want 0", v)
	}
	paths = nil
	for i := 0; i < 30; i++ {
		r := request{app: "echo", endpoint: "/echo", body: []byte(strconv.Itoa(i)), sender: "a@example.com"}
		_, p := e.drop(r)
		paths = append(paths, p)
	}
	allAnswered(t, paths, 30*time.Second)
}

// A folder the event watcher cannot watch reaches subscribers as
// MissedEvents, never as silence: once when it goes unwatched, once more
// when its watch is in place and events flow again.
func TestEventsFromUnwatchableFolderAreMissed(t *testing.T) {
	e := newEnv(t)
	setLimit := e.startWatchLimited(0)
	// A tree that cannot be watched at all is refused, to be tried again,
	// rather than taken with a gap from its first moment.
	refused := e.mustEvStream(t)
	refused.send(watchMsg("w", nil, "{datasite}/load/**"))
	for range refused.msgs {
	}
	if status.Code(refused.err) != codes.ResourceExhausted || !strings.Contains(refused.err.Error(), "fs.inotify.max_user_watches") {
		t.Fatalf("subscription to an unwatchable tree: %v, want ResourceExhausted naming fs.inotify.max_user_watches", refused.err)
	}
	setLimit(1) // the subscription's root, no more
	s := e.mustEvStream(t)
	s.send(watchMsg("w", nil, "{datasite}/load/**"))
	s.subscribed("w")
	load := filepath.Join(e.Path, "datasites", owner, "load")
	mustWrite(t, filepath.Join(load, "first"), "1")
	if ev := s.fileEvent("first"); ev.GetPath() != owner+"/load/first" {
		t.Fatalf("event = %v", ev)
	}
	missed := func(what string) *pb.MissedEvents {
		return s.next(what, func(m *pb.ConnectResponse) bool { return m.GetMissedEvents() != nil }).GetMissedEvents()
	}
	mustWrite(t, filepath.Join(load, "sub", "a"), "1")
	if m := missed("missed events for a folder that cannot be watched"); m.GetReason() != "unwatched" || m.GetId() != "w" {
		t.Fatalf("missed = %v", m)
	}
	setLimit(1000)
	if m := missed("missed events when the folder is watched again"); m.GetReason() != "unwatched" {
		t.Fatalf("missed = %v", m)
	}
	mustWrite(t, filepath.Join(load, "sub", "b"), "1")
	ev := s.next("sub/b created", func(m *pb.ConnectResponse) bool {
		return m.GetFileEvent().GetPath() == owner+"/load/sub/b"
	}).GetFileEvent()
	if ev.GetKind() != pb.FileEventKind_FILE_EVENT_KIND_CREATED {
		t.Fatalf("event = %v", ev)
	}
}

package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/safefs"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/openmined/syft-sidecar/internal/watcher"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkHotPath is one request's way through the sidecar in one
// goroutine, with real files and no gRPC: intake reads and checks the file
// its create event names, the dispatcher hands it to a handler (converted to
// protobuf as the stream sends it), takes the handler's reply, and the
// writer writes the response. Its allocations per request are the
// sidecar's own (the gRPC transport's excepted); run it with TMPDIR on a
// tmpfs to leave the disk out:
//
//	TMPDIR=/dev/shm go test -run '^$' -bench HotPath -benchmem -benchtime 20000x ./internal/bridge/
func BenchmarkHotPath(b *testing.B) {
	const owner, sender = "bob@example.com", "alice@example.com"
	dir := b.TempDir()
	cfg := NewConfig(owner, filepath.Join(dir, "datasites"))
	br := New(cfg, metrics.New(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := mkdirAll(filepath.Join(cfg.DatasitesDir, owner)); err != nil {
		b.Fatal(err)
	}
	root, err := safefs.OpenRoot(filepath.Join(cfg.DatasitesDir, owner))
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	br.ownerRoot = root
	a, _, err := br.openApp("echo")
	if err != nil {
		b.Fatal(err)
	}
	defer a.root.Close()
	if err := prepareEndpoint(a.root, "/echo"); err != nil {
		b.Fatal(err)
	}
	f := &fakeStream{}
	h := newHandler(1, f, MaxInFlightLimit)
	if _, _, err := br.d.join(h, a, []declared{{path: "/echo", deadline: time.Minute}}, 0, func(int) bool { return true }); err != nil {
		b.Fatal(err)
	}
	reqDir := filepath.Join(a.rpcDir, "echo", sender)
	if err := os.MkdirAll(reqDir, 0o755); err != nil {
		b.Fatal(err)
	}
	paths := make([]string, b.N)
	for i := range paths {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		req := syftrpc.Request{
			ID: id, Sender: sender, URL: "syft://" + owner + "/app_data/echo/rpc/echo",
			Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Headers: map[string]string{},
			Created: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Method: "POST",
		}
		paths[i] = filepath.Join(reqDir, id+".request")
		if err := os.WriteFile(paths[i], req.AppendJSON(nil), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	in := newIntakeShards(br, 1).shards[0]
	ctx := context.Background()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for _, p := range paths {
		in.handle(ctx, watcher.Event{Path: p, Op: watcher.Create})
		if len(f.got) != 1 {
			b.Fatalf("%s: %d deliveries", p, len(f.got))
		}
		dl := f.got[0]
		f.got = f.got[:0]
		_ = requestPB(dl)
		for _, j := range br.d.reply(h, reply{id: dl.req.ID, attempt: dl.attempt, body: dl.req.Body}) {
			if buf, err = br.w.writeResponse(j, buf[:0]); err != nil {
				b.Fatal(err)
			}
			br.w.done(j.abs)
		}
	}
	b.StopTimer()
	if n := br.d.inFlight(); n != 0 {
		b.Fatalf("%d still in flight", n)
	}
}

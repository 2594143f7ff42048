package bridge

import (
	"context"
	"testing"

	"github.com/openmined/syft-sidecar/internal/watcher"
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
	br, h, f, reqDir := echoBridge(b)
	paths := writeRequests(b, reqDir, b.N)
	in := newIntakeShards(br, 1).shards[0]
	ctx := context.Background()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for _, p := range paths {
		in.take(ctx, watcher.Event{Path: p, Op: watcher.Create})
		if len(f.got) != 1 {
			b.Fatalf("%s: %d deliveries", p, len(f.got))
		}
		dl := f.got[0]
		f.got = f.got[:0]
		_ = requestPB(dl)
		for _, j := range br.d.reply(h, reply{id: dl.req.ID, attempt: dl.attempt, body: dl.req.Body}) {
			var err error
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

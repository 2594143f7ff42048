package bridge

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openmined/syft-sidecar/internal/metrics"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The dispatcher, stepped by hand on a fake clock, with fake handler
// streams: no files, no gRPC, no goroutines.

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// fakeStream records what the dispatcher hands one handler.
type fakeStream struct {
	got      []delivery
	cancels  []string // id#attempt
	problems []problem
	full     bool // refuse deliveries, as a broken stream's full buffer
}

func (f *fakeStream) deliver(d delivery) bool {
	if f.full {
		return false
	}
	f.got = append(f.got, d)
	return true
}

func (f *fakeStream) cancel(id string, attempt uint32) {
	f.cancels = append(f.cancels, fmt.Sprintf("%s#%d", id, attempt))
}

func (f *fakeStream) refuse(p problem) { f.problems = append(f.problems, p) }

// delivered lists what f got as id#attempt, in order.
func (f *fakeStream) delivered() string {
	var out []string
	for _, d := range f.got {
		out = append(out, fmt.Sprintf("%s#%d", d.req.ID, d.attempt))
	}
	return strings.Join(out, " ")
}

// rig is one dispatcher with one app, and the responses it decided so far.
type rig struct {
	t       *testing.T
	clock   *fakeClock
	d       *dispatcher
	m       *metrics.Metrics
	app     *app
	answers []writeJob
	nextID  uint64
	// deadline is what connect declares for each endpoint.
	deadline time.Duration
}

const testDeadline = 10 * time.Second

func newRig(t *testing.T, tune func(*Config)) *rig {
	cfg := NewConfig("alice@example.org", "/data/datasites")
	cfg.MaxAttempts = 3
	if tune != nil {
		tune(&cfg)
	}
	m := metrics.New(prometheus.NewRegistry())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := &app{name: "app", endpoints: make(map[string]*endpoint), unknown: m.ForEndpoint("app", metrics.UnknownEndpoint)}
	return &rig{t: t, deadline: testDeadline, clock: c, d: newDispatcher(cfg, c, m, logger, newRefusals(logger)), m: m, app: a}
}

func (r *rig) take(jobs []writeJob) { r.answers = append(r.answers, jobs...) }

// connect joins a handler with the given credit to the endpoints.
func (r *rig) connect(credit uint32, eps ...string) (*handler, *fakeStream) {
	r.t.Helper()
	f := &fakeStream{}
	r.nextID++
	h := newHandler(r.nextID, f, DefaultMaxInFlight)
	var decl []declared
	for _, ep := range eps {
		decl = append(decl, declared{path: ep, deadline: r.deadline})
	}
	acked := -1
	_, jobs, err := r.d.join(h, r.app, decl, credit, func(n int) bool { acked = n; return true })
	if err != nil || acked != h.maxInFlight {
		r.t.Fatalf("join: %v, acknowledged credit %d (handler has %d)", err, acked, h.maxInFlight)
	}
	r.take(jobs)
	return h, f
}

// submit hands the dispatcher a request file named file with the given id,
// for ep, expiring in ttl.
func (r *rig) submit(file, id, ep string, ttl time.Duration) {
	rel := ep[1:] + "/bob@example.org/" + file + ".request"
	r.take(r.d.submit(&pending{
		id: id, abs: "/rpc/" + rel, rel: rel, epPath: ep, app: r.app, seen: r.clock.now,
		req: &syftrpc.Request{ID: id, Sender: "bob@example.org", URL: "syft://alice@example.org/app_data/app/rpc" + ep, Method: "POST", Created: r.clock.now, Expires: r.clock.now.Add(ttl)},
	}))
}

// received lists requests_received_total for each endpoint of eps, then
// for the app's unknown endpoint.
func received(r *rig, eps ...string) string {
	var out []string
	for _, ep := range eps {
		out = append(out, fmt.Sprintf("%s:%g", ep, counted(r.app.endpoints[ep].m.Received)))
	}
	return strings.Join(append(out, fmt.Sprintf("unknown:%g", counted(r.app.unknown.Received))), " ")
}

func (r *rig) advance(by time.Duration) {
	r.clock.now = r.clock.now.Add(by)
	jobs, _ := r.d.tick()
	r.take(jobs)
}

func (r *rig) reply(h *handler, id string, attempt uint32, code int) {
	r.take(r.d.reply(h, reply{id: id, attempt: attempt, code: code, body: []byte("ok")}))
}

// answered lists the responses decided so far as file:code, in order.
func (r *rig) answered() string {
	var out []string
	for _, j := range r.answers {
		out = append(out, fmt.Sprintf("%s:%d", strings.TrimSuffix(j.rel[strings.LastIndex(j.rel, "/")+1:], ".request"), j.code))
	}
	return strings.Join(out, " ")
}

// writeAll reports every decided response written.
func (r *rig) writeAll() {
	for _, j := range r.answers {
		r.d.written(j.abs)
	}
}

func (r *rig) want(what, got, want string) {
	r.t.Helper()
	if got != want {
		r.t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// counted reads a counter.
func counted(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestDispatcher(t *testing.T) {
	for _, tc := range []struct {
		name string
		tune func(*Config)
		run  func(r *rig)
	}{
		{"credits bound what a handler holds", nil, func(r *rig) {
			h, f := r.connect(2, "/echo")
			for _, id := range []string{"a", "b", "c", "d"} {
				r.submit(id, id, "/echo", time.Hour)
			}
			r.want("with credit 2", f.delivered(), "a#1 b#1")
			r.reply(h, "a", 1, 200)
			r.want("after one reply", f.delivered(), "a#1 b#1 c#1")
			r.take(r.d.credit(h, 3))
			r.want("after credit 3", f.delivered(), "a#1 b#1 c#1 d#1")
			r.take(r.d.credit(h, 0))
			if h.maxInFlight != 3 {
				r.t.Fatalf("credit 0 changed the credit to %d, want it kept at 3", h.maxInFlight)
			}
			r.take(r.d.credit(h, MaxInFlightLimit+1))
			if h.maxInFlight != MaxInFlightLimit {
				r.t.Fatalf("credit over the limit: %d, want %d", h.maxInFlight, MaxInFlightLimit)
			}
			r.want("answers", r.answered(), "a:200")
		}},
		{"handlers of one endpoint take turns", nil, func(r *rig) {
			_, f1 := r.connect(5, "/echo")
			_, f2 := r.connect(5, "/echo")
			for _, id := range []string{"a", "b", "c", "d"} {
				r.submit(id, id, "/echo", time.Hour)
			}
			r.want("first handler", f1.delivered(), "a#1 c#1")
			r.want("second handler", f2.delivered(), "b#1 d#1")
		}},
		{"a handler's requests go to another with attempt + 1", nil, func(r *rig) {
			h1, f1 := r.connect(1, "/echo")
			r.submit("a", "a", "/echo", time.Hour)
			r.submit("b", "b", "/echo", time.Hour)
			r.want("first handler", f1.delivered(), "a#1")
			r.take(r.d.leave(h1))
			_, f2 := r.connect(1, "/echo")
			r.want("second handler: the lost one first", f2.delivered(), "a#2")
			if n := counted(r.app.endpoints["/echo"].m.Redeliver); n != 1 {
				r.t.Fatalf("redelivered %v, want 1", n)
			}
			r.want("answers", r.answered(), "")
		}},
		{"502 once MaxAttempts handlers were lost", nil, func(r *rig) {
			r.submit("a", "a", "/echo", time.Hour)
			for i := 1; i <= 3; i++ {
				h, f := r.connect(1, "/echo")
				r.want("handler", f.delivered(), fmt.Sprintf("a#%d", i))
				r.take(r.d.leave(h))
			}
			r.want("answers", r.answered(), "a:502")
			if body := string(r.answers[0].body); !strings.Contains(body, "lost 3 times") {
				r.t.Fatalf("body %q", body)
			}
		}},
		{"404 for an undeclared endpoint after the grace period", nil, func(r *rig) {
			r.connect(1, "/echo")
			r.submit("a", "a", "/other", time.Hour)
			r.submit("b", "b", "/late", time.Hour)
			r.advance(DefaultGrace / 2)
			_, late := r.connect(1, "/late")
			r.want("declared within the grace period", late.delivered(), "b#1")
			r.want("answers within the grace period", r.answered(), "")
			// A request counts as received once, under the endpoint that
			// takes it, even when that is declared after it came.
			r.want("received, once /late is declared", received(r, "/late", "/echo"), "/late:1 /echo:0 unknown:0")
			r.advance(DefaultGrace / 2)
			r.want("answers after it", r.answered(), "a:404")
			r.submit("c", "c", "/other", time.Hour)
			r.want("answers after it, at once", r.answered(), "a:404 c:404")
			r.want("received, at the end", received(r, "/late", "/echo"), "/late:1 /echo:0 unknown:2")
		}},
		{"419 for a request that expires while it waits", func(c *Config) { c.Grace = time.Hour }, func(r *rig) {
			r.deadline = time.Hour
			h, f := r.connect(1, "/echo")
			r.submit("a", "a", "/echo", time.Hour)
			r.submit("b", "b", "/echo", time.Minute)
			r.submit("c", "c", "/echo", 2*time.Minute)
			r.submit("u", "u", "/undeclared", 30*time.Second)
			r.advance(time.Second)
			r.want("answers after a second", r.answered(), "")
			r.advance(time.Minute)
			r.want("answers after a minute", r.answered(), "u:419 b:419")
			// c expires unseen by the timers (tick is not called), and is
			// refused when its turn comes.
			r.clock.now = r.clock.now.Add(2 * time.Minute)
			r.reply(h, "a", 1, 200)
			r.want("answers after a's reply", r.answered(), "u:419 b:419 a:200 c:419")
			r.want("delivered", f.delivered(), "a#1")
			r.submit("d", "d", "/echo", -time.Second)
			r.want("answers once d came in expired", r.answered(), "u:419 b:419 a:200 c:419 d:419")
		}},
		{"504 past the deadline, which a handler may extend", nil, func(r *rig) {
			h, f := r.connect(2, "/echo")
			r.submit("a", "a", "/echo", time.Hour)
			r.submit("b", "b", "/echo", time.Hour)
			r.d.extend(h, "b", 1, time.Minute)
			r.advance(testDeadline)
			r.want("answers at the deadline", r.answered(), "a:504")
			r.want("cancels", strings.Join(f.cancels, " "), "a#1")
			r.d.extend(h, "b", 2, time.Minute)
			r.d.extend(h, "b", 1, MaxDeadline+1)
			if len(f.problems) != 2 || !f.problems[0].stale || f.problems[1].stale {
				r.t.Fatalf("problems %+v: want one stale extension, then one invalid", f.problems)
			}
			r.advance(time.Minute - testDeadline)
			r.want("answers at the extended deadline", r.answered(), "a:504 b:504")
		}},
		{"one file at a time per id", nil, func(r *rig) {
			h, f := r.connect(5, "/echo")
			r.submit("a1", "a", "/echo", time.Hour)
			r.submit("a2", "a", "/echo", time.Hour)
			r.submit("a3", "a", "/echo", time.Hour)
			r.want("delivered while a1 is in flight", f.delivered(), "a#1")
			// The duplicate reply in the same batch must not answer a2.
			r.take(r.d.reply(h, reply{id: "a", attempt: 1, code: 200}, reply{id: "a", attempt: 1, code: 201}))
			r.want("answers", r.answered(), "a1:200")
			r.want("delivered once a1 is answered", f.delivered(), "a#1 a#1")
			if len(f.problems) != 1 || !f.problems[0].stale {
				r.t.Fatalf("problems %+v: want the second reply refused as stale", f.problems)
			}
			// a3 gives up, so a2's answer lets no one else go.
			r.take(r.d.removed("/rpc/echo/bob@example.org/a3.request"))
			r.reply(h, "a", 1, 200)
			r.want("answers", r.answered(), "a1:200 a2:200")
			r.want("delivered", f.delivered(), "a#1 a#1")
			if len(r.d.byID) != 0 {
				r.t.Fatalf("ids still held: %v", r.d.byID)
			}
		}},
		{"a removed head of an id lets the next go", nil, func(r *rig) {
			_, f := r.connect(1, "/echo")
			r.submit("x", "x", "/echo", time.Hour)
			r.submit("a1", "a", "/echo", time.Hour)
			r.submit("a2", "a", "/echo", time.Hour)
			r.take(r.d.removed("/rpc/echo/bob@example.org/a1.request"))
			r.want("queued behind x", f.delivered(), "x#1")
			r.want("answers", r.answered(), "")
			if q := r.app.endpoints["/echo"].waiting; q != 1 {
				r.t.Fatalf("waiting %d, want a2 alone", q)
			}
		}},
		{"stale, duplicate and invalid replies are refused", nil, func(r *rig) {
			h1, f1 := r.connect(2, "/echo")
			h2, f2 := r.connect(2, "/echo")
			r.submit("a", "a", "/echo", time.Hour)
			r.reply(h1, "nope", 1, 200)
			r.reply(h1, "a", 2, 200)
			r.reply(h2, "a", 1, 200) // not h2's
			r.reply(h1, "a", 1, 700)
			r.want("answers", r.answered(), "")
			r.reply(h1, "a", 1, 0)
			r.reply(h1, "a", 1, 200)
			r.want("answers", r.answered(), "a:200")
			var kinds []string
			for _, p := range append(f1.problems, f2.problems...) {
				kinds = append(kinds, fmt.Sprintf("%s#%d:%v", p.id, p.attempt, p.stale))
			}
			r.want("problems", strings.Join(kinds, " "), "nope#1:true a#2:true a#1:false a#1:true a#1:true")
			if n := counted(r.m.StaleReplies); n != 4 {
				r.t.Fatalf("stale replies %v, want 4", n)
			}
		}},
		{"the backlog has room again once half is answered", func(c *Config) { c.MaxPending = 4 }, func(r *rig) {
			h, _ := r.connect(10, "/echo")
			for i := 0; i < 4; i++ {
				if !r.d.admit() {
					r.t.Fatalf("request %d not admitted", i)
				}
				r.submit(fmt.Sprint(i), fmt.Sprint(i), "/echo", time.Hour)
			}
			if r.d.admit() || r.d.admit() {
				r.t.Fatal("a fifth request admitted")
			}
			r.reply(h, "0", 1, 200)
			if closed(r.d.room) {
				r.t.Fatal("room with 3 of 4 held")
			}
			r.reply(h, "1", 1, 200)
			if !closed(r.d.room) {
				r.t.Fatal("no room signal with 2 of 4 held")
			}
			if !r.d.admit() {
				r.t.Fatal("not admitted with 2 of 4 held")
			}
		}},
		{"drain stops delivery and ends when nothing is in flight", nil, func(r *rig) {
			h, f := r.connect(1, "/echo")
			r.submit("a", "a", "/echo", time.Hour)
			r.submit("b", "b", "/echo", time.Hour)
			drained := r.d.drain()
			if closed(drained) {
				r.t.Fatal("drained with a in flight")
			}
			r.reply(h, "a", 1, 200)
			r.want("delivered", f.delivered(), "a#1")
			if !closed(drained) || r.d.inFlight() != 0 {
				r.t.Fatal("not drained once a was answered")
			}
			written := r.d.allWritten()
			if closed(written) {
				r.t.Fatal("all written before a's response was")
			}
			r.writeAll()
			if !closed(written) || !closed(r.d.allWritten()) {
				r.t.Fatal("not all written after a's response was")
			}
			if !r.d.holds("/rpc/echo/bob@example.org/b.request") || r.d.holds("/rpc/echo/bob@example.org/a.request") {
				r.t.Fatal("want b held (on disk, unanswered) and a released")
			}
		}},
		{"a request is held from intake until written", nil, func(r *rig) {
			h, _ := r.connect(1, "/echo")
			abs := "/rpc/echo/bob@example.org/a.request"
			r.submit("a", "a", "/echo", time.Hour)
			r.take(r.d.removed(abs)) // in flight: stays
			r.submit("a", "a", "/echo", time.Hour)
			if !r.d.holds(abs) || r.d.reserve(abs) {
				r.t.Fatal("want a held, once")
			}
			r.reply(h, "a", 1, 200)
			r.take(r.d.removed(abs)) // answered: stays until written
			if !r.d.holds(abs) {
				r.t.Fatal("a released before its response was written")
			}
			r.writeAll()
			if r.d.holds(abs) {
				r.t.Fatal("a held after its response was written")
			}
			if !r.d.reserve(abs) || !r.d.holds(abs) || closed(r.d.allWritten()) {
				r.t.Fatal("a reserved response is not held until written")
			}
			r.d.written(abs)
			r.d.written(abs)
			if r.d.holds(abs) || !closed(r.d.allWritten()) {
				r.t.Fatal("a reserved response held after it was written")
			}
		}},
		{"a waiting request whose file goes is let go", nil, func(r *rig) {
			_, f := r.connect(1, "/echo")
			r.submit("a", "a", "/echo", time.Hour)
			r.submit("b", "b", "/echo", time.Hour)
			r.submit("u", "u", "/undeclared", time.Hour)
			r.take(r.d.removed("/rpc/echo/bob@example.org/b.request"))
			r.take(r.d.removed("/rpc/undeclared/bob@example.org/u.request"))
			r.take(r.d.removed("/rpc/echo/bob@example.org/never.request"))
			r.advance(DefaultGrace)
			r.want("answers", r.answered(), "")
			r.want("delivered", f.delivered(), "a#1")
			if ep := r.app.endpoints["/echo"]; ep.waiting != 0 || ep.pop() != nil {
				r.t.Fatalf("waiting %d, want none", ep.waiting)
			}
		}},
		{"a stream with a full buffer keeps what it was handed", nil, func(r *rig) {
			h, f := r.connect(1, "/echo")
			f.full = true
			r.submit("a", "a", "/echo", time.Hour)
			if h.inFlight != 1 {
				r.t.Fatalf("in flight %d, want 1", h.inFlight)
			}
			r.take(r.d.leave(h))
			_, f2 := r.connect(1, "/echo")
			r.want("the next handler", f2.delivered(), "a#2")
		}},
		{"endpoints, schemas and metrics", nil, func(r *rig) {
			h := newHandler(9, &fakeStream{}, 1)
			changed, _, err := r.d.join(h, r.app, []declared{{path: "/b", schema: `{"b":1}`}, {path: "/a/x"}}, 0, func(int) bool { return true })
			if !changed || err != nil {
				r.t.Fatalf("first join: changed %v, %v", changed, err)
			}
			changed, _, _ = r.d.join(h, r.app, []declared{{path: "/b", schema: `{"b":1}`}}, 0, func(int) bool { return true })
			if changed {
				r.t.Fatal("the same declaration changed the schema")
			}
			if _, _, err := r.d.join(newHandler(10, &fakeStream{}, 1), r.app, nil, 0, func(int) bool { return false }); err != errAckFull {
				r.t.Fatalf("unacknowledged join: %v", err)
			}
			if got := r.d.schema(r.app); len(got) != 1 || got[0].Endpoint != "/b" {
				r.t.Fatalf("schema %+v", got)
			}
			if m := r.d.metricsFor(r.app, "a/x/bob@example.org"); m != r.app.endpoints["/a/x"].m {
				r.t.Fatal("metrics of a nested endpoint's request")
			}
			if m := r.d.metricsFor(r.app, "c/bob@example.org"); m != r.app.unknown {
				r.t.Fatal("metrics of an undeclared endpoint's request")
			}
			if _, next := r.d.tick(); next != DefaultGrace {
				r.t.Fatalf("next timer in %s, want the grace period's end", next)
			}
			if !closed(r.d.wake) {
				r.t.Fatal("the first timer did not wake the timer loop")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(newRig(t, tc.tune))
		})
	}
}

// The request a handler is handed says where it came from.
func TestDispatcherDelivery(t *testing.T) {
	r := newRig(t, nil)
	_, f := r.connect(1, "/api/v1")
	r.submit("a", "a", "/api/v1", time.Hour)
	if len(f.got) != 1 {
		t.Fatalf("delivered %d", len(f.got))
	}
	d := f.got[0]
	want := delivery{req: d.req, attempt: 1, app: "app", endpoint: "/api/v1", deadline: r.clock.now.Add(testDeadline),
		path: "alice@example.org/app_data/app/rpc/api/v1/bob@example.org/a.request"}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

// Command hotpath measures issue 15's hot-path figures of the sidecar with the
// Go echo handler against the floor (bin/floor serve), in turns, in one run:
//
//	hotpath [-mode pending|latency] [-n N] [-rounds R] [-cpus "0 0,1"] [-root /dev/shm]
//
// pending puts N requests in place before the contender starts, pinned with
// taskset to each CPU list in turn (the floor with one worker per CPU), and
// times its start to the last response. The driver does nothing during the
// run but check, every 10 ms, whether the next response (in the order the
// requests were made) is there, so it takes no CPU from the contender that
// a watcher of its own would. It reads each process's CPU time from /proc
// when the last response is there. Every response is checked afterwards.
//
// latency renames one request at a time into place and waits, woken by
// inotify, for its response: the floor is woken by inotify as the sidecar is.
// The contenders relay-grpc and relay-unix are that floor with the sidecar's
// design: a second process asked for every body (bench/floor/relay.go).
//
// Each round runs every contender on every CPU list, so that the machine's
// load moves them alike; the summary gives medians over the rounds.
// -mutexprofile keeps each sidecar's lock contention profile; bench/device.sh
// runs the scaling figures on a machine with more cores.
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

const (
	owner  = "bob@example.com"
	sender = "alice@example.com"
	app    = "echo"
)

var (
	mode   = flag.String("mode", "pending", "pending or latency")
	n      = flag.Int("n", 20000, "requests per run")
	rounds = flag.Int("rounds", 3, "rounds; each runs every contender on every CPU list")
	cpus   = flag.String("cpus", "0 0,1", "taskset CPU lists, space-separated; \"-\" for no pinning (the floor then has 2 workers)")
	only   = flag.String("only", "sidecar,floor", "contenders: floor, sidecar, sidecar:DIR for DIR's syft-sidecar and echo (another build, to compare), relay-grpc and relay-unix (floor relay and its peer: the floor of two processes; relay-grpc:BYTES with static flow-control windows), sidecar-py and sidecar-py:DIR (the Python client echoing)")
	root   = flag.String("root", "/dev/shm", "where the throw-away data folders go")
	bin    = flag.String("bin", "bin", "folder with syft-sidecar, echo and floor")
	python = flag.String("python", ".venv/bin/python", "Python with the syft_sidecar client, for sidecar-py")
	extra  = flag.String("args", "", "more flags for the sidecar, space-separated (e.g. \"--metrics-listen 127.0.0.1:9464 --pprof\" to profile it)")
	mutex  = flag.String("mutexprofile", "", "a folder: run each sidecar with --pprof and keep its lock contention profile of each pending run there (mutex-RUN-WHO-cpusLIST.pb.gz, for go tool pprof)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hotpath:", err)
		os.Exit(1)
	}
}

// result is one run's figures.
type result struct {
	who, cpus          string
	seconds            float64 // pending: start to last response; latency: p50
	p90, p99           float64 // latency only
	cpuServer, cpuHand float64 // µs per request
}

func run() error {
	lists := strings.Fields(*cpus)
	whos := strings.Split(*only, ",")
	fmt.Printf("hotpath -mode %s -n %d on %s; load %s\n", *mode, *n, *root, loadavg())
	var all []result
	for r := range *rounds {
		for _, c := range lists {
			for _, who := range whos {
				res, err := once(who, c)
				if err != nil {
					return fmt.Errorf("round %d, %s on cpus %s: %w", r+1, who, c, err)
				}
				fmt.Println(res.line())
				all = append(all, res)
			}
		}
	}
	fmt.Printf("load %s\n\nmedians of %d rounds:\n", loadavg(), *rounds)
	med := map[[2]string]result{}
	for _, c := range lists {
		for _, who := range whos {
			var sel []result
			for _, r := range all {
				if r.who == who && r.cpus == c {
					sel = append(sel, r)
				}
			}
			m := result{who: who, cpus: c,
				seconds:   median(sel, func(r result) float64 { return r.seconds }),
				p90:       median(sel, func(r result) float64 { return r.p90 }),
				p99:       median(sel, func(r result) float64 { return r.p99 }),
				cpuServer: median(sel, func(r result) float64 { return r.cpuServer }),
				cpuHand:   median(sel, func(r result) float64 { return r.cpuHand })}
			med[[2]string{who, c}] = m
			fmt.Println(m.line())
		}
	}
	for _, c := range lists {
		f := med[[2]string{"floor", c}]
		for _, who := range whos {
			s := med[[2]string{who, c}]
			if who == "floor" || s.seconds == 0 || f.seconds == 0 {
				continue
			}
			if *mode == "pending" {
				fmt.Printf("cpus %s: %s at %.0f%% of the floor's rate; its CPU per request %.2fx the floor's, echo's %.2fx\n",
					c, who, 100*f.seconds/s.seconds, s.cpuServer/f.cpuServer, s.cpuHand/f.cpuServer)
			} else {
				fmt.Printf("cpus %s: %s p50 %.2fx the floor's", c, who, s.seconds/f.seconds)
				if rl := med[[2]string{"relay-grpc", c}]; rl.seconds > 0 && who != "relay-grpc" {
					fmt.Printf(", %.2fx relay-grpc's", s.seconds/rl.seconds)
				}
				fmt.Println()
			}
		}
	}
	if *mode == "pending" {
		for _, who := range whos {
			first := med[[2]string{who, lists[0]}]
			for _, c := range lists[1:] {
				fmt.Printf("%s: cpus %s give %.2fx the rate of cpus %s\n", who, c, first.seconds/med[[2]string{who, c}].seconds, lists[0])
			}
		}
	}
	return nil
}

func (r result) line() string {
	if *mode == "latency" {
		return fmt.Sprintf("%-8s cpus %-4s p50 %.3f ms  p90 %.3f ms  p99 %.3f ms", r.who, r.cpus, r.seconds*1e3, r.p90*1e3, r.p99*1e3)
	}
	return fmt.Sprintf("%-8s cpus %-4s %6.3f s  %6.0f req/s  CPU per request: server %5.1f µs, handler %5.1f µs",
		r.who, r.cpus, r.seconds, float64(*n)/r.seconds, r.cpuServer, r.cpuHand)
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, 0, len(rs))
	for _, r := range rs {
		v = append(v, f(r))
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// site is a throw-away data folder with the echo app's request folder.
type site struct {
	top, data, rpc, dir, tmp string
	ids                      []string
}

func newSite() (*site, error) {
	top, err := os.MkdirTemp(*root, "hotpath")
	if err != nil {
		return nil, err
	}
	s := &site{top: top, data: filepath.Join(top, "d"), tmp: filepath.Join(top, "d", ".syft-tmp")}
	s.rpc = filepath.Join(s.data, "datasites", owner, "app_data", app, "rpc")
	s.dir = filepath.Join(s.rpc, "echo", sender)
	for _, d := range []string{s.dir, s.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// write makes n requests, in place or in the temp folder.
func (s *site) write(n int, inPlace bool) error {
	now := time.Now().UTC()
	s.ids = make([]string, n)
	for i := range s.ids {
		s.ids[i] = uuid4()
		req := syftrpc.Request{ID: s.ids[i], Sender: sender, URL: "syft://" + owner + "/app_data/" + app + "/rpc/echo",
			Headers: map[string]string{}, Body: []byte(`{"n":` + strconv.Itoa(i) + `}`), Created: now, Expires: now.Add(time.Hour), Method: syftrpc.MethodPost}
		dst := filepath.Join(s.dir, s.ids[i]+".request")
		if !inPlace {
			dst = filepath.Join(s.tmp, s.ids[i]+".request")
		}
		if err := os.WriteFile(dst, req.AppendJSON(nil), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// uuid4 is a random version 4 UUID, as syft-rpc makes request ids.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *site) response(id string) string { return filepath.Join(s.dir, id+".response") }

// check reads every response back: the request's id, status 200, the body echoed.
func (s *site) check() error {
	for i, id := range s.ids {
		data, err := os.ReadFile(s.response(id))
		if err != nil {
			return err
		}
		resp, err := syftrpc.ParseResponse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if resp.ID != id || resp.StatusCode != 200 || !bytes.Equal(resp.Body, []byte(`{"n":`+strconv.Itoa(i)+`}`)) {
			return fmt.Errorf("%s: wrong response %s", id, data)
		}
	}
	return nil
}

// pyEcho is bench/run.py's echo app on this repo's Python client, for the
// site's owner, and the path of the script that runs it.
func (s *site) pyEcho() (string, error) {
	cfg := filepath.Join(s.top, "bob.json")
	data := fmt.Sprintf(`{"email": %q, "data_dir": %q}`, owner, s.data)
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		return "", err
	}
	script := filepath.Join(s.top, "echo_app.py")
	return script, os.WriteFile(script, []byte(`import sys
from syft_core import Client
from syft_sidecar import SyftEvents, Request
box = SyftEvents("`+app+`", client=Client.load("`+cfg+`"), sidecar=sys.argv[1])
@box.on_request("/echo")
def echo(req: Request) -> bytes:
    return req.body or b""
box.run_forever()
`), 0o644)
}

// contender is the processes of one contender: the server, and the
// sidecar's handler.
type contender struct {
	server, handler *exec.Cmd
	handlerLog      bytes.Buffer // said when the run fails: it logs each registration
	metrics         string       // the sidecar's metrics address, with --pprof; "" if none
}

func start(who, cpuList string, s *site) (*contender, error) {
	var pre []string
	workers := 2
	if cpuList != "-" {
		pre = []string{"taskset", "-c", cpuList}
		var err error
		if workers, err = cpuCount(cpuList); err != nil {
			return nil, err
		}
	}
	cmd := func(args ...string) *exec.Cmd {
		a := append(slices.Clone(pre), args...)
		c := exec.Command(a[0], a[1:]...)
		c.Stderr = os.Stderr
		return c
	}
	c := &contender{}
	if who == "floor" {
		c.server = cmd(filepath.Join(*bin, "floor"), "serve", "--root", s.rpc, "--dir", s.dir, "--owner", owner, "--workers", strconv.Itoa(workers))
		return c, c.server.Start()
	}
	if via, ok := strings.CutPrefix(who, "relay-"); ok {
		via, window, _ := strings.Cut(via, ":")
		return c, c.startRelay(cmd, via, window, s)
	}
	// sidecar-py[:DIR] is the sidecar with the Python client echoing.
	py := who == "sidecar-py" || strings.HasPrefix(who, "sidecar-py:")
	dir, ok := strings.CutPrefix(strings.Replace(who, "sidecar-py", "sidecar", 1), "sidecar:")
	if who == "sidecar" || who == "sidecar-py" {
		dir, ok = *bin, true
	}
	if !ok {
		return nil, fmt.Errorf("no contender %q", who)
	}
	sock := filepath.Join(s.top, "s.sock")
	args := []string{filepath.Join(dir, "syft-sidecar"), "--data-dir", s.data, "--email", owner,
		"--listen", "unix://" + sock, "--metrics-listen", "", "--log-level", "warn"}
	if *mutex != "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		c.metrics = l.Addr().String()
		l.Close()
		args = append(args, "--metrics-listen", c.metrics, "--pprof")
	}
	c.server = cmd(append(args, strings.Fields(*extra)...)...)
	if err := c.server.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, errors.New("the sidecar's socket did not answer in 30 s")
		}
	}
	c.handler = cmd(filepath.Join(dir, "echo"), "--sidecar", "unix://"+sock, "--app", app)
	if py {
		script, err := s.pyEcho()
		if err != nil {
			c.stop()
			return nil, err
		}
		c.handler = cmd(*python, script, "unix://"+sock)
	}
	c.handler.Stderr = &c.handlerLog
	if err := c.handler.Start(); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// cpuCount is how many CPUs a taskset list names ("0", "0,1", "0-7,16").
func cpuCount(list string) (int, error) {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a {
			return 0, fmt.Errorf("-cpus: %q is not a CPU list such as 0,1 or 0-7", list)
		}
		n += b - a + 1
	}
	return n, nil
}

// startRelay starts floor relay and its peer (bench/floor/relay.go): the
// floor of the sidecar's design, two processes and a round trip between them.
func (c *contender) startRelay(cmd func(args ...string) *exec.Cmd, via, window string, s *site) error {
	sock := filepath.Join(s.top, "r.sock")
	floor := filepath.Join(*bin, "floor")
	if window == "" {
		window = "0"
	}
	c.server = cmd(floor, "relay", "--via", via, "--window", window, "--listen", sock, "--root", s.rpc, "--dir", s.dir, "--owner", owner)
	if err := c.server.Start(); err != nil {
		return err
	}
	// Not dialled to see: over unix the relay takes the first connection
	// as its peer's.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.stop()
			return errors.New("the relay's socket did not appear in 30 s")
		}
	}
	c.handler = cmd(floor, "peer", "--via", via, "--window", window, "--connect", sock)
	c.handler.Stderr = &c.handlerLog
	if err := c.handler.Start(); err != nil {
		c.stop()
		return err
	}
	return nil
}

func (c *contender) stop() {
	for _, p := range []*exec.Cmd{c.handler, c.server} {
		if p != nil && p.Process != nil {
			_ = p.Process.Signal(os.Interrupt)
			_ = p.Wait()
		}
	}
}

// sayLog adds the handler's log to a failed run's error.
func (c *contender) sayLog(err *error) {
	if *err == nil {
		return
	}
	c.stop()
	if c.handlerLog.Len() > 0 {
		*err = fmt.Errorf("%w; the handler said:\n%s", *err, c.handlerLog.String())
	}
}

// cpuPerRequest is the µs of CPU (user and system) p has taken, per request.
func cpuPerRequest(p *exec.Cmd) float64 {
	if p == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return float64((time.Duration(u+k) * tick).Microseconds()) / float64(*n)
}

func once(who, cpuList string) (res result, err error) {
	s, err := newSite()
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(s.top)
	if *mode == "latency" {
		return latency(who, cpuList, s)
	}
	if err := s.write(*n, true); err != nil {
		return result{}, err
	}
	t0 := time.Now()
	c, err := start(who, cpuList, s)
	if err != nil {
		return result{}, err
	}
	defer c.stop()
	defer c.sayLog(&err)
	deadline := t0.Add(5 * time.Minute)
	for i := 0; i < len(s.ids); {
		if _, err := os.Lstat(s.response(s.ids[i])); err == nil {
			i++
			continue
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("%d of %d answered in 5 minutes", i, len(s.ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	res = result{who: who, cpus: cpuList, seconds: time.Since(t0).Seconds(),
		cpuServer: cpuPerRequest(c.server), cpuHand: cpuPerRequest(c.handler)}
	if c.metrics != "" {
		if err := c.saveMutexProfile(who, cpuList); err != nil {
			return result{}, err
		}
	}
	c.stop()
	return res, s.check()
}

// profiled counts the profiles saved, to name each apart.
var profiled int

// saveMutexProfile keeps the sidecar's lock contention profile, from its
// start to now, in the -mutexprofile folder.
func (c *contender) saveMutexProfile(who, cpuList string) error {
	resp, err := http.Get("http://" + c.metrics + "/debug/pprof/mutex")
	if err != nil {
		return fmt.Errorf("mutex profile: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mutex profile: %s, %v", resp.Status, err)
	}
	profiled++
	name := fmt.Sprintf("mutex-%d-%s-cpus%s.pb.gz", profiled, strings.NewReplacer("/", "_", ":", "_").Replace(who), cpuList)
	return os.WriteFile(filepath.Join(*mutex, name), data, 0o644)
}

func latency(who, cpuList string, s *site) (res result, err error) {
	if err := s.write(*n+1, false); err != nil {
		return result{}, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return result{}, err
	}
	defer w.Close()
	if err := w.Add(s.dir); err != nil {
		return result{}, err
	}
	c, err := start(who, cpuList, s)
	if err != nil {
		return result{}, err
	}
	defer c.stop()
	defer c.sayLog(&err)
	// The first request waits for the contender to be ready; it is not timed.
	var lat []float64
	for i, id := range s.ids {
		t := time.Now()
		if err := os.Rename(filepath.Join(s.tmp, id+".request"), filepath.Join(s.dir, id+".request")); err != nil {
			return result{}, err
		}
		if err := waitFor(w, s.response(id), t.Add(30*time.Second)); err != nil {
			return result{}, err
		}
		if i > 0 {
			lat = append(lat, time.Since(t).Seconds())
		}
	}
	c.stop()
	slices.Sort(lat)
	res = result{who: who, cpus: cpuList, seconds: lat[len(lat)/2], p90: lat[len(lat)*9/10], p99: lat[len(lat)*99/100]}
	return res, s.check()
}

// waitFor waits until name is created (a response is linked in whole).
func waitFor(w *fsnotify.Watcher, name string, deadline time.Time) error {
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	for {
		select {
		case ev := <-w.Events:
			if ev.Name == name && ev.Has(fsnotify.Create) {
				return nil
			}
		case err := <-w.Errors:
			return err
		case <-timeout.C:
			return fmt.Errorf("no %s by the deadline", filepath.Base(name))
		}
	}
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:3], " ")
}

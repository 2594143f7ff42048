// Command floor is the filesystem floor of bench/run.py: the file operations
// the sidecar must make for each request (bench/floorfs: the bounded read
// beneath the rpc folder, the no-replace O_TMPFILE write and the one-byte
// rewrite that gives SyftBox its write event), with nothing between them.
//
//	floor loop --tmp DIR --root RPC --dir FOLDER --owner EMAIL --mode burst|latency|steady [--rate R] [--workers W] < ids
//	floor serve --root RPC --dir FOLDER --owner EMAIL [--workers W]
//	floor relay --via grpc|unix --listen SOCK --root RPC --dir FOLDER --owner EMAIL
//	floor peer --via grpc|unix --connect SOCK
//
// FOLDER is the request folder, RPC the app's rpc folder above it (default:
// FOLDER itself), beneath which every path is resolved as the sidecar
// resolves it.
//
// loop renames in the requests whose ids it reads, one a line, and answers
// them itself, timing it the way bench/run.py times the contenders: burst
// renames all in and answers all with W workers, from the first rename to
// the last response; latency does one round trip at a time; steady starts one
// at a fixed rate. It prints {"seconds": ..., "samples": [...]} (seconds).
//
// serve answers the requests in a folder as they arrive, woken by inotify as
// the sidecar is, and those already there at start (a rescan when inotify
// overflows), with W workers: the floor when the responder must be woken.
//
// relay is serve with the sidecar's design: it asks floor peer, a second
// process connected to SOCK, for each response's body over one round trip
// (relay.go).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/openmined/syft-sidecar/bench/floorfs"
	"github.com/openmined/syft-sidecar/rpcpath"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// common holds the flags both modes take.
type common struct {
	root, dir, owner *string
	workers          *int
}

func flags(name string) (*flag.FlagSet, common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return fs, common{
		root:    fs.String("root", "", "the app's rpc folder, beneath which paths are resolved (default: --dir)"),
		dir:     fs.String("dir", "", "request folder to answer in"),
		owner:   fs.String("owner", "", "email the responses are sent as"),
		workers: fs.Int("workers", 1, "goroutines answering requests"),
	}
}

// open makes the responder of c's folder.
func (c common) open() (*floorfs.Responder, error) {
	if *c.dir == "" || *c.owner == "" || *c.workers < 1 {
		return nil, errors.New("--dir and --owner are required, --workers at least 1")
	}
	root := *c.root
	if root == "" {
		root = *c.dir
	}
	rel, err := filepath.Rel(root, *c.dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("--dir %s is not beneath --root %s", *c.dir, root)
	}
	return floorfs.Open(root, filepath.ToSlash(rel), *c.owner)
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "loop":
			return loop(args[1:])
		case "relay":
			return relay(args[1:])
		case "peer":
			return peer(args[1:])
		}
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs, c := flags("floor serve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	return serve(*c.dir, workers(r, *c.workers))
}

// serve answers the requests in dir: those there at start, then each one
// inotify reports, woken as the sidecar is (a rescan when its queue
// overflows).
func serve(dir string, answer func(name string)) error {
	w, err := fsnotify.NewBufferedWatcher(1 << 17)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	scan(dir, answer)
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) && strings.HasSuffix(ev.Name, rpcpath.RequestExt) {
				answer(filepath.Base(ev.Name))
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				scan(dir, answer)
				continue
			}
			return fmt.Errorf("watch: %w", err)
		}
	}
}

// workers returns what hands a request name to be answered: answered at once
// on the caller's goroutine with one worker (no hand-off), else sent to n
// goroutines.
func workers(r *floorfs.Responder, n int) func(name string) {
	if n == 1 {
		return func(name string) { report(r.Answer(name)) }
	}
	ch := make(chan string, 1024)
	for range n {
		wr := r.Worker()
		go func() {
			for name := range ch {
				report(wr.Answer(name))
			}
		}()
	}
	return func(name string) { ch <- name }
}

func report(err error) {
	if err != nil && !errors.Is(err, os.ErrExist) {
		fmt.Fprintln(os.Stderr, "floor:", err)
	}
}

// scan answers every request in dir whose response is not in the same
// listing: the folder's names tell, without a stat per request.
func scan(dir string, answer func(string)) {
	entries, _ := os.ReadDir(dir)
	answered := make(map[string]bool, len(entries))
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), rpcpath.ResponseExt); ok {
			answered[id] = true
		}
	}
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), rpcpath.RequestExt); ok && !answered[id] {
			answer(e.Name())
		}
	}
}

func loop(args []string) error {
	fs, c := flags("floor loop")
	tmpDir := fs.String("tmp", "", "folder the requests are staged in")
	mode := fs.String("mode", "burst", "burst, latency or steady")
	rate := fs.Float64("rate", 1000, "requests per second, for steady")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	var ids []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids = append(ids, id)
		}
	}
	renameIn := func(id string) error {
		return os.Rename(filepath.Join(*tmpDir, id+rpcpath.RequestExt), filepath.Join(*c.dir, id+rpcpath.RequestExt))
	}
	var samples []float64
	start := time.Now()
	switch *mode {
	case "burst":
		for _, id := range ids {
			if err := renameIn(id); err != nil {
				return err
			}
		}
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = id + rpcpath.RequestExt
		}
		if err := floorfs.AnswerAll(r, names, *c.workers); err != nil {
			return err
		}
	case "latency", "steady":
		interval := time.Duration(float64(time.Second) / *rate)
		next := time.Now()
		for _, id := range ids {
			if *mode == "steady" {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
			}
			t0 := time.Now()
			if err := renameIn(id); err != nil {
				return err
			}
			if err := r.Answer(id + rpcpath.RequestExt); err != nil {
				return err
			}
			samples = append(samples, time.Since(t0).Seconds())
		}
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}
	took := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": took, "samples": samples})
}

// Command floor is the filesystem floor of bench/run.py: the file operations
// of a round trip alone (rename the request in from the temp folder, read it,
// write the response to a temp file, rename that into place), in one loop in
// one process.
//
//	floor loop --tmp DIR --dir FOLDER --owner EMAIL --mode burst|latency|steady [--rate R] < ids
//	floor serve --dir FOLDER --owner EMAIL
//
// loop renames in the requests whose ids it reads, one a line, and answers
// them itself, timing it the way bench/run.py times the contenders: burst
// renames all in and answers all, from the first rename to the last
// response; latency does one round trip at a time; steady starts one at a
// fixed rate. It prints {"seconds": ..., "samples": [...]} (seconds).
//
// serve answers the requests in a folder as they arrive, woken by inotify as
// the sidecar is, and those already there at start (a rescan when inotify
// overflows): the latency floor when the responder must be woken.
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
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "loop" {
		return loop(args[1:])
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	dir := fs.String("dir", "", "request folder to answer in")
	owner := fs.String("owner", "", "email the responses are sent as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *owner == "" {
		return errors.New("usage: floor --dir FOLDER --owner EMAIL")
	}
	w, err := fsnotify.NewBufferedWatcher(1 << 17)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	if err := w.Add(*dir); err != nil {
		return fmt.Errorf("watch %s: %w", *dir, err)
	}
	r := &responder{owner: *owner}
	r.scan(*dir)
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) && strings.HasSuffix(ev.Name, syftrpc.RequestExt) {
				r.answer(ev.Name)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				r.scan(*dir)
				continue
			}
			return fmt.Errorf("watch: %w", err)
		}
	}
}

type responder struct {
	owner string
	buf   []byte
}

// scan answers every request in dir that has no response yet.
func (r *responder) scan(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, "*"+syftrpc.RequestExt))
	for _, name := range names {
		if _, err := os.Stat(strings.TrimSuffix(name, syftrpc.RequestExt) + syftrpc.ResponseExt); err != nil {
			r.answer(name)
		}
	}
}

// answer reads one request and writes its echo: the only work beyond the file
// operations is parsing the request and formatting the response.
func (r *responder) answer(name string) {
	data, err := os.ReadFile(name)
	if err != nil {
		return
	}
	req, err := syftrpc.ParseRequest(data)
	if err != nil {
		return
	}
	resp := req.Reply(r.owner, time.Now())
	resp.Body = req.Body
	r.buf = resp.AppendJSON(r.buf[:0])
	base := strings.TrimSuffix(name, syftrpc.RequestExt)
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(base)+".tmp")
	if err := os.WriteFile(tmp, r.buf, 0o644); err != nil {
		return
	}
	os.Rename(tmp, base+syftrpc.ResponseExt)
}

func loop(args []string) error {
	fs := flag.NewFlagSet("floor loop", flag.ContinueOnError)
	tmpDir := fs.String("tmp", "", "folder the requests are staged in")
	dir := fs.String("dir", "", "request folder to rename them into")
	owner := fs.String("owner", "", "email the responses are sent as")
	mode := fs.String("mode", "burst", "burst, latency or steady")
	rate := fs.Float64("rate", 1000, "requests per second, for steady")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ids []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids = append(ids, id)
		}
	}
	r := &responder{owner: *owner}
	renameIn := func(id string) error {
		return os.Rename(filepath.Join(*tmpDir, id+syftrpc.RequestExt), filepath.Join(*dir, id+syftrpc.RequestExt))
	}
	answer := func(id string) { r.answer(filepath.Join(*dir, id+syftrpc.RequestExt)) }
	var samples []float64
	start := time.Now()
	switch *mode {
	case "burst":
		for _, id := range ids {
			if err := renameIn(id); err != nil {
				return err
			}
		}
		for _, id := range ids {
			answer(id)
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
			answer(id)
			samples = append(samples, time.Since(t0).Seconds())
		}
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}
	took := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": took, "samples": samples})
}

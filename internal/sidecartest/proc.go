package sidecartest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout bounds the wait for a process to exit after SIGTERM. Generous:
// it only matters when something is broken.
const StopTimeout = 20 * time.Second

// Proc is a child process whose output is kept, to be shown if the test
// fails: a sidecar's debug log is what explains a missing response.
type Proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{} // closed once the process has exited and been reaped
}

// MustStart starts cmd and kills it when the test ends. Its stdout and
// stderr, where the caller left them nil, go to one buffer that is logged if
// the test failed.
func MustStart(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", filepath.Base(cmd.Path), err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("output of %s:\n%s", filepath.Base(cmd.Path), p.Output())
		}
	})
	return p
}

// Kill kills the process, as a crash or kill -9 would, and waits until it
// is gone. Killing an exited process does nothing.
func (p *Proc) Kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Signal sends sig to the process, such as SIGSTOP and SIGCONT to freeze
// and thaw it.
func (p *Proc) Signal(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %s: %v", filepath.Base(p.cmd.Path), err)
	}
}

// Stop sends SIGTERM and waits up to StopTimeout for the exit, returning
// its code.
func (p *Proc) Stop(tb testing.TB) int {
	tb.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(tb, StopTimeout)
}

// Wait waits up to within for the process to exit by itself and returns its
// exit code (-1 if a signal ended it).
func (p *Proc) Wait(tb testing.TB, within time.Duration) int {
	tb.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		tb.Fatalf("%s did not exit within %s", filepath.Base(p.cmd.Path), within)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// MemoryBytes reads a size from the process's /proc status: VmRSS for what
// it holds resident now, VmHWM for the most it has held.
func (p *Proc) MemoryBytes(tb testing.TB, field string) int64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc status", field)
	return 0
}

// Output is what the process wrote so far to the stdout and stderr that
// MustStart captured.
func (p *Proc) Output() string { return p.out.String() }

// syncBuffer is a bytes.Buffer the process's stdout and stderr copiers can
// write to at once while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"log/slog"
	"syscall"
)

// logFileLimit says at start how many files the sidecar may hold open,
// since here that bounds what it can watch: kqueue holds a descriptor for
// every watched folder and for every file in one. Go raised the soft limit
// to the hard one before main ran (on macOS to kern.maxfilesperproc when
// the hard limit is unlimited), so it is as high as the process may set.
func logFileLimit(logger *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("read open files limit", "err", err)
		return
	}
	logger.Info("open files limit", "limit", lim.Cur, "hard", lim.Max,
		"note", "kqueue holds one for every watched folder and file: requests and responses kept until --cleanup-expiry count")
}

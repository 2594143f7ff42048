//go:build !(darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "log/slog"

// logFileLimit: inotify (Linux) watches hold no file descriptors, and
// Windows holds one handle per watched folder, far below its limits.
func logFileLimit(*slog.Logger) {}

// Package events holds the pieces of file events that do not depend on the
// watcher or the gRPC stream: watch patterns (globs over the datasites tree
// with syft-event's placeholders) and the bounded, sequenced log that lets a
// reconnecting client resume without loss or learn exactly what it missed.
package events

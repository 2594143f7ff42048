// Package events holds the pieces of file events that do not depend on the
// watcher or the gRPC stream: the hub that fans events out to the
// subscriptions whose globs (package watchglob) match, and the bounded,
// sequenced log that lets a reconnecting client resume without loss or learn
// exactly what it missed.
package events

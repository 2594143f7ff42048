package safefs

// OpenPortableRoot opens dir with the os.Root implementation that macOS and
// Windows use, so that Linux runs its tests too.
var OpenPortableRoot = openPortableRoot

// NoLink forces the rename that refuses to replace, as where hard links
// are not to be had.
var NoLink = &noLink

// MustCreateWithWriteEvent checks that create makes the write event the
// SyftBox client needs (see event_test.go).
var MustCreateWithWriteEvent = mustCreateWithWriteEvent

package syftsidecarv1

// Reasons a MissedEvents gives in its reason field. A client should treat a
// reason it does not know as a loss all the same: rescan what it watches.
const (
	// MissedRestart: the sidecar restarted since the client's cursor, so
	// everything in between is unknown.
	MissedRestart = "restart"
	// MissedCompacted: the events are older than the sidecar's event buffer.
	MissedCompacted = "compacted"
	// MissedSlow: the subscriber fell behind, and the events it could not
	// take were dropped (by the sidecar, or by a client's own queue).
	MissedSlow = "slow"
	// MissedOverflow: the kernel's event queue overflowed; the sidecar
	// rescans, but changes in between went unseen.
	MissedOverflow = "overflow"
	// MissedUnwatched: a folder could not be watched, or a watched tree was
	// dropped while the client was away, so changes there went unseen for a
	// while.
	MissedUnwatched = "unwatched"
)

// Package batch packs messages that are already waiting behind one into a
// batch, for the sidecar's RequestBatch and the Go client's ReplyBatch.
package batch

// Gather returns first and what waits on ch behind it, in order, as long as
// take accepts each message, up to limit items and maxBytes as counted by
// size. It never blocks: a batch is what is there now. The first message it
// takes off ch but does not accept is returned as next (the zero M if none),
// for the caller to send right after the batch.
func Gather[M, T any](ch <-chan M, first T, take func(M) (T, bool), size func(T) int, limit, maxBytes int) (items []T, next M) {
	items = []T{first}
	total := size(first)
	for len(items) < limit {
		var m M
		select {
		case m = <-ch:
		default:
			return items, next
		}
		t, ok := take(m)
		if !ok || total+size(t) > maxBytes {
			return items, m
		}
		items = append(items, t)
		total += size(t)
	}
	return items, next
}

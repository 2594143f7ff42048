//go:build linux

package safefs

import "golang.org/x/sys/unix"

// announceWrite makes a write event for name, a file just linked or renamed
// into the folder dfd, without changing a byte of it: it rewrites the first
// byte in place with first, the byte written there.
//
// Why: the SyftBox client (v0.8.7) sends *.request and *.response files at
// once over its websocket (its priority path) only when its watcher reports
// a write, and it subscribes to write events alone (notify.Write: IN_MODIFY
// on Linux, FSEvents' ItemModified on macOS). A link or a rename makes
// IN_CREATE / IN_MOVED_TO, which it does not hear, so the file would wait
// for the standard sync, up to 5 s later, instead of about 0.1 s.
//
// What stays true:
//   - never visible half-written: the file was complete before it had a
//     name, and the rewritten byte is the one written there, so no reader
//     at any moment sees anything but the final content;
//   - never replacing anything: the no-replace link or rename already
//     happened; this only writes into the inode we created;
//   - never through a link: the name is opened with O_NOFOLLOW relative to
//     the folder we already hold, and its inode must be the one we linked
//     (want), of the size we wrote. If someone replaced or truncated the
//     file meanwhile, nothing is written: that made its own events;
//   - never blocks: O_NONBLOCK (a FIFO swapped in would fail with ENXIO
//     rather than wait for a reader, and the inode check refuses it anyway).
//
// On macOS the kernel reports a content change (FSE_CONTENT_MODIFIED) when a
// file written through a descriptor is closed; FSEvents delivers it as
// ItemModified for the path, possibly coalesced with ItemCreated and
// ItemRenamed into one event, which notify matches bit by bit, so the client
// hears Write there too; the portable Root (macOS, Windows) takes the same
// step in announceWritten.
//
// The write event is a courtesy to the sync: any failure here leaves a
// correct, complete file that the standard sync still sends, so it is
// returned only for logging by tests and callers that care.
func announceWrite(dfd int, name string, want *unix.Stat_t, first byte) error {
	if want.Size == 0 {
		return nil // nothing to rewrite; an empty file is not a response
	}
	fd, err := openat(dfd, name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Dev != want.Dev || st.Ino != want.Ino || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != want.Size {
		return errReplaced
	}
	b := [1]byte{first}
	_, err = unix.Pwrite(fd, b[:], 0)
	return err
}

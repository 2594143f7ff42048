// Package sidecar serves SyftBox RPC endpoints through syft-sidecar.
//
// The sidecar watches the datasite for request files and writes the response
// files; a handler process only dials it, registers the endpoints it serves
// and answers the requests that arrive on one gRPC stream. It needs no port
// and no filesystem access of its own.
//
//	c, err := sidecar.New("") // $SYFT_SIDECAR_ADDR, else the SyftBox config's default
//	if err != nil { ... }
//	defer c.Close()
//	c.HandleFunc("myapp", "/hello", func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
//		return &sidecar.Response{Body: []byte(`"hello"`)}, nil
//	})
//	err = c.Run(ctx) // until ctx is cancelled; reconnects by itself
//
// Delivery is at least once: if the stream breaks or the process dies, the
// sidecar hands the requests that were in flight to another handler of the
// same endpoint, or to this one once it is back (Request.Attempt counts the
// deliveries). The sidecar writes exactly one response per request.
//
// The same stream carries file events: Watch calls a function for changes
// to files that match globs over the datasites folder, as syft-event's
// watch(), with paths relative to that folder; AddListener calls an
// AltaStata-style function of (name, data) for CREATE, MODIFY, DELETE, MOVE,
// SHARE and the custom events that Publish sends. Each subscription's callbacks run in order on a goroutine of its
// own. After a reconnect the client resumes each subscription after the
// last event it took, so none is lost or repeated while the sidecar still
// holds it; when events are lost (sidecar restart, its buffer outrun, a
// callback too slow, a kernel queue overflow, a folder it could not watch),
// WithOnMissed's function is told why (MissedEvents.Reason), so the app can
// rescan.
//
// The client shares its naming rules with the sidecar through small public
// packages of this module (rpcpath, watchglob, duration, syftconfig, batch),
// and otherwise depends only on the protocol package: it builds on every OS
// the sidecar does.
package sidecar

// Package syftbox runs syft-sidecar against the real SyftBox: the v0.8.7
// server and client built from the Go module proxy, an in-memory S3
// (gofakes3) in place of MinIO, two clients (alice and bob), and the real
// syft-rpc as alice. It is a module of its own so that gofakes3 and its
// dependencies stay out of the sidecar's go.mod.
package syftbox

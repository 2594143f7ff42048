// Package sidecartest runs the real syft-sidecar and the example echo handler
// as processes for tests, and drops and reads request files the way the
// SyftBox client does. It exists so that the end-to-end tests, the Go
// client's integration tests and the benchmarks drive the binaries the same
// way. Only tests import it.
package sidecartest

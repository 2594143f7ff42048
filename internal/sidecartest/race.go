//go:build race

package sidecartest

// race is whether the test binary was built with -race: the binaries under
// test are built the same way, so the race detector sees both sides.
const race = true

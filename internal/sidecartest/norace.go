//go:build !race

package sidecartest

// race is whether the test binary was built with -race.
const race = false

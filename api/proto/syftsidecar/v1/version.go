package syftsidecarv1

import "runtime/debug"

// Capabilities, as Registered.capabilities lists them and Register.requires
// asks for them. They are strings rather than an enum so that a sidecar can
// name in its refusal a capability that only a newer client knows.
const (
	CapabilityBatch          = "batch"
	CapabilityFileEvents     = "file-events"
	CapabilityListeners      = "listeners"
	CapabilityExtendDeadline = "extend-deadline"
	CapabilityCleanup        = "cleanup"
)

// Capabilities is what this version of the protocol serves, in the order
// Registered lists them.
var Capabilities = []string{
	CapabilityBatch, CapabilityFileEvents, CapabilityListeners, CapabilityExtendDeadline, CapabilityCleanup,
}

// ModulePath is the Go module that holds the sidecar, its clients and this
// package.
const ModulePath = "github.com/openmined/syft-sidecar"

// ModuleVersion is the version of ModulePath built into the running binary,
// as Go records it: "v0.2.0" for `go install ...@v0.2.0` or a program that
// requires that version, a pseudo-version for a build in a checkout, "dev"
// when Go recorded none (go run, tests).
func ModuleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	m := &bi.Main
	if m.Path != ModulePath {
		m = nil
		// A program that requires the module: the version it requires,
		// also when a replace points it at a folder.
		for _, d := range bi.Deps {
			if d.Path == ModulePath {
				m = d
				break
			}
		}
	}
	if m == nil || m.Version == "" || m.Version == "(devel)" {
		return "dev"
	}
	return m.Version
}

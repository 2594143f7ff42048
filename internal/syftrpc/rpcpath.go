package syftrpc

import "github.com/openmined/syft-sidecar/rpcpath"

// The naming rules moved to package rpcpath, which the Go client shares.
// These forwards stay only while the bridge and bench/floor, which other work
// changes at the same time, still call them here (issue 14); new code calls
// rpcpath, and they go once those callers have moved.
const (
	RequestExt  = rpcpath.RequestExt
	ResponseExt = rpcpath.ResponseExt
	KeepFile    = rpcpath.KeepFile
)

// RequestPath is rpcpath.RequestPath.
type RequestPath = rpcpath.RequestPath

// ParseRequestPath is rpcpath.ParseRequestPath.
func ParseRequestPath(rel string) (RequestPath, bool) { return rpcpath.ParseRequestPath(rel) }

// ResponseName is rpcpath.ResponseName.
func ResponseName(id string) string { return rpcpath.ResponseName(id) }

// Ignored is rpcpath.Ignored.
func Ignored(name string) bool { return rpcpath.Ignored(name) }

// IsEmail is rpcpath.IsEmail.
func IsEmail(s string) bool { return rpcpath.IsEmail(s) }

// SameEmail is rpcpath.SameEmail.
func SameEmail(a, b string) bool { return rpcpath.SameEmail(a, b) }

// ValidateAppName is rpcpath.ValidateAppName.
func ValidateAppName(s string) error { return rpcpath.ValidateAppName(s) }

// CleanEndpoint is rpcpath.CleanEndpoint.
func CleanEndpoint(s string) (string, error) { return rpcpath.CleanEndpoint(s) }

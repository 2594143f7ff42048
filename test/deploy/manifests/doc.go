// Package manifests checks deploy/'s compose file and Kubernetes manifests
// offline with the parsers their tools use: compose-go (Docker Compose's own
// loader, validating against the Compose spec's schema) and the Kubernetes
// API types with strict YAML decoding (unknown or misspelt fields fail). It
// is a module of its own so that these parsers never enter the dependencies
// of syft-sidecar's module, which the Go client library shares.
package manifests

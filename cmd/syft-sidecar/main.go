// Command syft-sidecar serves a SyftBox datasite's app RPC to handler
// processes connected over gRPC. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build); otherwise it is what Go recorded, so that `go install
// .../cmd/syft-sidecar@v0.2.0` reports v0.2.0.
var version = "dev"

func init() {
	if version == "dev" {
		version = pb.ModuleVersion()
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := NewMain(os.Stdout, os.Stderr).Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Command echo serves the endpoint /echo of one app through syft-sidecar,
// answering 200 with the request's body unchanged (null stays null). Tests
// use it as a real handler process.
//
//	echo --sidecar unix:///path/to/sidecar.sock --app myapp
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	sidecar "github.com/openmined/syft-sidecar/clients/go"
)

// echoSchema is the endpoint's entry in rpc.schema.json, in syft-event's
// shape: it takes the whole body and returns it.
const echoSchema = `{"description": "Replies with the request body, unchanged.", "args": {}, "returns": "bytes"}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	addr := fs.String("sidecar", "", "sidecar address: unix:///path.sock or host:port (default: $SYFT_SIDECAR_ADDR, else from the SyftBox config)")
	app := fs.String("app", "", "app name to serve /echo for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *app == "" {
		fs.Usage()
		return errors.New("usage: echo --sidecar ADDR --app NAME")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := sidecar.New(*addr, sidecar.WithLogger(log))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.HandleFunc(*app, "/echo", echo, sidecar.WithSchema(echoSchema)); err != nil {
		return err
	}
	return c.Run(ctx)
}

func echo(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
	return &sidecar.Response{Body: r.Body}, nil
}

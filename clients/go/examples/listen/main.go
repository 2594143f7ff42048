// Command listen is the smallest AltaStata-style listener: it prints every
// listener event the sidecar sends as "NAME<TAB>DATA", one per line, and
// can publish custom events of its own. With --watch it prints file events
// for a glob instead, as "KIND<TAB>PATH".
//
//	listen --sidecar ADDR [--names CREATE,SHARE,model-ready] [--publish name=data]...
//	listen --sidecar ADDR --watch '{datasite}/**/*.csv'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	sidecar "github.com/openmined/syft-sidecar/clients/go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
}

type publishes []string

func (p *publishes) String() string     { return strings.Join(*p, ",") }
func (p *publishes) Set(v string) error { *p = append(*p, v); return nil }

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	addr := fs.String("sidecar", "", "sidecar address (default: $SYFT_SIDECAR_ADDR, else from the SyftBox config)")
	names := fs.String("names", "", "comma-separated event names to receive (default: all)")
	var pubs publishes
	fs.Var(&pubs, "publish", "publish a custom event `name=data` once connected (repeatable)")
	watch := fs.String("watch", "", "print file events (created, modified, moved) for this `glob` instead of listener events")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := sidecar.New(*addr, sidecar.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var only []string
	if *names != "" {
		only = strings.Split(*names, ",")
	}
	print := func(a, b string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%s\t%s\n", a, b)
	}
	if *watch != "" {
		err = c.Watch([]string{*watch}, func(_ context.Context, ev sidecar.FileEvent) { print(ev.Kind.String(), ev.Path) })
	} else {
		_, err = c.AddListener(print, only...)
	}
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for _, p := range pubs {
		name, data, _ := strings.Cut(p, "=")
		if err := publish(ctx, c, name, data); err != nil {
			return err
		}
	}
	return <-done
}

// publish retries until Run has connected.
func publish(ctx context.Context, c *sidecar.Client, name, data string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := c.Publish(ctx, name, data)
		if !errors.Is(err, sidecar.ErrNotConnected) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

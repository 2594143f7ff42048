package sidecar_test

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"os/signal"
	"time"

	sidecar "github.com/openmined/syft-sidecar/clients/go"
)

func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	c, err := sidecar.New("") // $SYFT_SIDECAR_ADDR, else from the SyftBox config
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	err = c.HandleFunc("greeter", "/hello", func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
		var args struct{ Name string }
		if err := json.Unmarshal(r.Body, &args); err != nil {
			return nil, sidecar.Error(400, "want {\"name\": ...}")
		}
		body, err := json.Marshal("Hello, " + args.Name + "!")
		return &sidecar.Response{Body: body}, err
	}, sidecar.WithSchema(`{"description": "Greets", "args": {"name": {"type": "str", "required": true}}, "returns": "str"}`))
	if err != nil {
		log.Fatal(err)
	}

	err = c.HandleFunc("greeter", "/report", func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
		// A long job asks for more time before its deadline passes.
		if err := sidecar.ExtendDeadline(ctx, 10*time.Minute); err != nil {
			return nil, err
		}
		return &sidecar.Response{Body: []byte(`"done"`)}, nil
	}, sidecar.WithDeadline(time.Minute))
	if err != nil {
		log.Fatal(err)
	}

	if err := c.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Watch() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := sidecar.New("", sidecar.WithOnMissed(func(m sidecar.MissedEvents) {
		// Events were lost (m.Reason: "restart", "compacted", "slow",
		// "overflow" or "unwatched"): look at the files again instead of
		// trusting the stream.
		log.Printf("subscription %s missed events (%s): rescanning", m.ID, m.Reason)
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	err = c.Watch([]string{"{datasite}/**/*.csv"}, func(ctx context.Context, ev sidecar.FileEvent) {
		log.Printf("%s %s", ev.Kind, ev.Path) // relative to the datasites folder
	}, sidecar.WithKinds(sidecar.Created, sidecar.Deleted))
	if err != nil {
		log.Fatal(err)
	}
	// AltaStata style: SHARE when access to files changed, and a custom
	// event another handler publishes.
	_, err = c.AddListener(func(name, data string) {
		log.Printf("%s: %s", name, data)
		if name == "SHARE" {
			// A listener may publish; the event reaches every listener of
			// its name, in any handler process of this sidecar.
			if err := c.Publish(ctx, "acl-changed", data); err != nil {
				log.Print(err)
			}
		}
	}, "SHARE", "model-ready")
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

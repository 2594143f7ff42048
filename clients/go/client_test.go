package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

func echoHandler(ctx context.Context, r *Request) (*Response, error) {
	return &Response{Body: r.Body}, nil
}

func MustNew(t *testing.T, addr string, opts ...Option) *Client {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(addr, append([]Option{WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatalf("New(%q): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  Option
		want string
	}{
		{"zero max in flight", WithMaxInFlight(0), "max in flight 0"},
		{"negative max in flight", WithMaxInFlight(-1), "max in flight -1"},
		{"deprecated WithConcurrency", WithConcurrency(0), "concurrency 0"},
		{"zero backoff", WithBackoff(0, time.Second), "backoff"},
		{"inverted backoff", WithBackoff(time.Second, time.Millisecond), "backoff"},
		{"nil logger", WithLogger(nil), "nil logger"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("unix:///tmp/x.sock", tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	c := MustNew(t, "localhost:1", WithMaxInFlight(3), WithBackoff(time.Millisecond, time.Second), WithHandlerName("w1"))
	if c.maxInFlight != 3 || c.minBackoff != time.Millisecond || c.maxBackoff != time.Second || c.handlerName != "w1" {
		t.Fatalf("options not applied: %+v", c)
	}
	if c := MustNew(t, "localhost:1", WithConcurrency(5)); c.maxInFlight != 5 {
		t.Fatalf("WithConcurrency(5) set max in flight %d", c.maxInFlight)
	}
}

func TestNewAddress(t *testing.T) {
	// No ambient SyftBox config may leak in.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SYFTBOX_CLIENT_CONFIG_PATH", "")
	t.Setenv("SYFTBOX_EMAIL", "")
	t.Setenv("SYFTBOX_DATA_DIR", "")
	t.Setenv("SYFT_SIDECAR_ADDR", "")

	t.Run("given", func(t *testing.T) {
		if c := MustNew(t, "unix:///run/s.sock"); c.addr != "unix:///run/s.sock" {
			t.Fatalf("addr = %q", c.addr)
		}
		if c := MustNew(t, "/run/s.sock"); c.addr != "unix:///run/s.sock" {
			t.Fatalf("bare path: addr = %q", c.addr)
		}
		if c := MustNew(t, "127.0.0.1:7000"); c.addr != "127.0.0.1:7000" {
			t.Fatalf("addr = %q", c.addr)
		}
		if c := MustNew(t, "tcp://127.0.0.1:7000"); c.addr != "127.0.0.1:7000" {
			t.Fatalf("tcp://: addr = %q", c.addr)
		}
	})
	t.Run("nothing to find", func(t *testing.T) {
		_, err := New("")
		if err == nil || !strings.Contains(err.Error(), "SYFT_SIDECAR_ADDR") || !strings.Contains(err.Error(), "syftbox config") {
			t.Fatalf("New(\"\"): err = %v, want one naming what it tried", err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("SYFT_SIDECAR_ADDR", "unix:///env/s.sock")
		if c := MustNew(t, ""); c.addr != "unix:///env/s.sock" {
			t.Fatalf("addr = %q", c.addr)
		}
	})
	t.Run("syftbox config", func(t *testing.T) {
		data := filepath.Join(home, "SyftBox")
		cfg := filepath.Join(home, ".syftbox", "config.json")
		if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, fmt.Appendf(nil, `{"email":"Bob@example.com","data_dir":%q}`, data), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "unix://" + filepath.Join(data, ".syft-sidecar", "sidecar.sock")
		if c := MustNew(t, ""); c.addr != want {
			t.Fatalf("addr = %q, want %q", c.addr, want)
		}
	})
}

func TestHandle(t *testing.T) {
	c := MustNew(t, "unix:///tmp/x.sock")
	if err := c.HandleFunc("echo", "/echo", echoHandler, WithDeadline(time.Second), WithSchema(`{"description":"echo"}`)); err != nil {
		t.Fatalf("HandleFunc: %v", err)
	}
	if err := c.HandleFunc("echo", "/api/v1/users", echoHandler); err != nil {
		t.Fatalf("HandleFunc nested: %v", err)
	}
	if err := c.HandleFunc("other.app_2-x", "/echo", echoHandler); err != nil {
		t.Fatalf("HandleFunc other app: %v", err)
	}
	for _, tt := range []struct {
		name, app, ep string
		h             Handler
		opts          []EndpointOption
		want          string
	}{
		{"duplicate", "echo", "/echo", HandlerFunc(echoHandler), nil, "already handled"},
		{"empty app", "", "/x", HandlerFunc(echoHandler), nil, "invalid app"},
		{"app with slash", "a/b", "/x", HandlerFunc(echoHandler), nil, "invalid app"},
		{"app dotdot", "..", "/x", HandlerFunc(echoHandler), nil, "invalid app"},
		{"hidden app", ".app", "/x", HandlerFunc(echoHandler), nil, "invalid app"},
		{"hidden part", "echo", "/a/.b", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"app with space", "my app", "/x", HandlerFunc(echoHandler), nil, "invalid app"},
		{"no leading slash is the same endpoint", "echo", "echo", HandlerFunc(echoHandler), nil, "already handled"},
		{"root", "echo", "/", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"trailing slash is the same endpoint", "echo", "/echo/", HandlerFunc(echoHandler), nil, "already handled"},
		{"empty part", "echo", "/a//b", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"dotdot", "echo", "/a/../b", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"wildcard", "echo", "/a/*", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"double star", "echo", "/**", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"sender-like", "echo", "/a@b.com", HandlerFunc(echoHandler), nil, "invalid endpoint"},
		{"nil handler", "echo", "/nil", nil, nil, "nil handler"},
		{"zero deadline", "echo", "/d", HandlerFunc(echoHandler), []EndpointOption{WithDeadline(0)}, "deadline"},
		{"schema not JSON", "echo", "/s", HandlerFunc(echoHandler), []EndpointOption{WithSchema("{")}, "schema"},
		{"schema not object", "echo", "/s", HandlerFunc(echoHandler), []EndpointOption{WithSchema(`[1]`)}, "schema"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Handle(tt.app, tt.ep, tt.h, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Handle(%q, %q): err = %v, want one containing %q", tt.app, tt.ep, err, tt.want)
			}
		})
	}
	if err := c.HandleFunc("echo", "/f", nil); err == nil {
		t.Fatal("HandleFunc(nil): no error")
	}

	r := c.register("echo").GetRegister()
	if r.GetApp() != "echo" || r.GetMaxInFlight() != DefaultMaxInFlight || r.GetHandlerName() == "" || len(r.GetEndpoints()) != 2 {
		t.Fatalf("register = %v", r)
	}
	if e := r.GetEndpoints()[0]; e.GetPath() != "/echo" || e.GetDeadline().AsDuration() != time.Second || e.GetSchemaJson() != `{"description":"echo"}` {
		t.Fatalf("endpoint = %v", e)
	}
	if e := r.GetEndpoints()[1]; e.GetPath() != "/api/v1/users" || e.GetDeadline() != nil || e.GetSchemaJson() != "" {
		t.Fatalf("endpoint = %v", e)
	}
}

func TestLifecycleErrors(t *testing.T) {
	ctx := t.Context()
	c := MustNew(t, "unix:///tmp/x.sock")
	if err := c.Run(ctx); !errors.Is(err, ErrNoHandlers) {
		t.Fatalf("Run with no handlers: err = %v", err)
	}
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Run(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: err = %v", err)
	}
	if err := c.HandleFunc("echo", "/x", echoHandler); !errors.Is(err, ErrClosed) {
		t.Fatalf("Handle after Close: err = %v", err)
	}
}

func TestRunWaitsForMissingSidecar(t *testing.T) {
	// A sidecar that is not up yet is normal: Run keeps trying until stopped.
	c := MustNew(t, "unix://"+filepath.Join(t.TempDir(), "none.sock"), WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err := c.HandleFunc("echo", "/echo", echoHandler); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := c.Run(t.Context()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Run: err = %v", err)
	}
	if err := c.HandleFunc("echo", "/x", echoHandler); !errors.Is(err, ErrStarted) {
		t.Fatalf("Handle after Run: err = %v", err)
	}
}

func TestNewReply(t *testing.T) {
	for _, tt := range []struct {
		name     string
		resp     *Response
		err      error
		code     int32
		body     []byte
		headers  map[string]string
		wantErr  bool
		nullBody bool
	}{
		{name: "nil response", code: 200, nullBody: true},
		{name: "zero status", resp: &Response{Body: []byte("hi")}, code: 200, body: []byte("hi")},
		{name: "null body", resp: &Response{StatusCode: 201}, code: 201, nullBody: true},
		{name: "empty body", resp: &Response{Body: []byte{}}, code: 200, body: []byte{}},
		{name: "headers", resp: &Response{Headers: map[string]string{"a": "b"}}, code: 200, headers: map[string]string{"a": "b"}, nullBody: true},
		{name: "status error", err: Error(418, "teapot"), code: 418, body: []byte("teapot")},
		{name: "wrapped status error", err: fmt.Errorf("lookup: %w", Error(404, "no such user")), code: 404, body: []byte("no such user")},
		{name: "plain error", err: errors.New("boom"), code: 500, body: []byte(InternalErrorBody), wantErr: true},
		{name: "bad status", resp: &Response{StatusCode: 99, Body: []byte("x")}, code: 500, body: []byte(InternalErrorBody), wantErr: true},
		{name: "bad status error", err: Error(600, "x"), code: 500, body: []byte(InternalErrorBody), wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := newReply("id1", 2, tt.resp, tt.err)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if rep.GetRequestId() != "id1" || rep.GetAttempt() != 2 || rep.GetStatusCode() != tt.code {
				t.Fatalf("reply = %v, want code %d", rep, tt.code)
			}
			if tt.nullBody != (rep.Body == nil) || !bytes.Equal(rep.Body, tt.body) {
				t.Fatalf("body = %q (nil %v), want %q (nil %v)", rep.Body, rep.Body == nil, tt.body, tt.nullBody)
			}
			if fmt.Sprint(rep.GetHeaders()) != fmt.Sprint(tt.headers) {
				t.Fatalf("headers = %v, want %v", rep.GetHeaders(), tt.headers)
			}
		})
	}
}

func TestNewRequest(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 46, 53, 513656000, time.UTC)
	m := &pb.Request{
		Id: "id", Attempt: 3, App: "a", Endpoint: "/e", Sender: "alice@example.com", Url: "syft://bob@example.com/app_data/a/rpc/e",
		Method: "POST", Headers: map[string]string{"k": "v"}, Body: []byte("hi"),
		Created: timestamppb.New(now), Expires: timestamppb.New(now.Add(time.Hour)), Deadline: timestamppb.New(now.Add(time.Minute)),
		Path: "bob@example.com/app_data/a/rpc/e/alice@example.com/id.request",
	}
	r := newRequest(m)
	want := Request{ID: "id", Attempt: 3, App: "a", Endpoint: "/e", Sender: "alice@example.com", URL: m.Url, Method: "POST",
		Headers: map[string]string{"k": "v"}, Body: []byte("hi"), Created: now, Expires: now.Add(time.Hour), Deadline: now.Add(time.Minute), Path: m.Path}
	if fmt.Sprint(*r) != fmt.Sprint(want) {
		t.Fatalf("request = %+v\nwant %+v", *r, want)
	}

	// Bodies keep the difference between null and empty across the wire.
	for _, body := range [][]byte{nil, {}} {
		b, err := marshalRoundTrip(&pb.Request{Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if got := newRequest(b).Body; (got == nil) != (body == nil) {
			t.Fatalf("body %#v came back as %#v", body, got)
		}
	}
	if r := newRequest(&pb.Request{}); r.Headers == nil || !r.Deadline.IsZero() || r.Body != nil {
		t.Fatalf("empty request = %+v", r)
	}
}

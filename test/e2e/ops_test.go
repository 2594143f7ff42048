package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	sidecar "github.com/openmined/syft-sidecar/clients/go"
	"github.com/openmined/syft-sidecar/internal/sidecartest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// metric reads one sample's value line from the sidecar's /metrics.
func metric(t *testing.T, addr, sample string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

func touch(t *testing.T, p string, data []byte, mtime time.Time) {
	t.Helper()
	MustMkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// Old pairs go, on registration and on CleanNow; a request that a handler
// holds stays however old it is; stats come back over gRPC.
func TestCleanup(t *testing.T) {
	e := newEnv(t, "--cleanup-interval", "1h")
	dir := e.RequestDir("app", "/echo", sender)
	old := time.Now().Add(-40 * 24 * time.Hour)
	oldReq := request{app: "app", endpoint: "/echo"}
	id, data := oldReq.encode()
	oldPath := filepath.Join(dir, id+".request")
	touch(t, oldPath, data, old)
	touch(t, sidecartest.ResponsePath(oldPath), []byte("{}"), old)
	e.start()

	hold, held := make(chan struct{}), make(chan struct{}, 1)
	t.Cleanup(func() { close(hold) })
	e.serve("app", map[string]sidecar.HandlerFunc{
		"/echo": echoHandler,
		"/hold": func(ctx context.Context, r *sidecar.Request) (*sidecar.Response, error) {
			held <- struct{}{}
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		},
	})
	// The first run comes with the app's registration (30d default expiry).
	sidecartest.WaitFor(t, 10*time.Second, "old pair removed at registration", func() bool {
		_, err1 := os.Stat(oldPath)
		_, err2 := os.Stat(sidecartest.ResponsePath(oldPath))
		return os.IsNotExist(err1) && os.IsNotExist(err2)
	})

	// A request held by a handler, with an old file time: never removed.
	_, heldPath := e.drop(request{app: "app", endpoint: "/hold"})
	cc, err := grpc.NewClient(e.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	rpc := pb.NewSidecarServiceClient(cc)
	// Once the handler holds it, age its file and an answered pair.
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never got the request")
	}
	_, answered := e.drop(request{app: "app", endpoint: "/echo", body: []byte("a")})
	sidecartest.MustResponse(t, answered, 10*time.Second)
	for _, p := range []string{heldPath, answered, sidecartest.ResponsePath(answered)} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := rpc.CleanNow(context.Background(), &pb.CleanNowRequest{App: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.GetStats(); st.GetRequestsDeleted() != 1 || st.GetResponsesDeleted() != 1 || st.GetErrors() != 0 || st.GetLastCleanup() == nil {
		t.Fatalf("CleanNow stats = %v", st)
	}
	if _, err := os.Stat(heldPath); err != nil {
		t.Fatalf("a request in flight was removed: %v", err)
	}
	if _, err := os.Stat(answered); !os.IsNotExist(err) {
		t.Fatalf("old answered request kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.EndpointDir("app", "/echo"), ".syftkeep")); err != nil {
		t.Fatalf(".syftkeep removed: %v", err)
	}
	got, err := rpc.GetCleanupStats(context.Background(), &pb.GetCleanupStatsRequest{App: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStats().GetRequestsDeleted() != 1 || !got.GetRunning() || got.GetStats().GetExpiry().AsDuration() != 30*24*time.Hour {
		t.Fatalf("GetCleanupStats = %v", got)
	}
	if _, err := rpc.CleanNow(context.Background(), &pb.CleanNowRequest{App: "nobody"}); status.Code(err) != codes.NotFound {
		t.Fatalf("CleanNow of an unknown app: %v, want NotFound", err)
	}
}

// A handler may set its app's cleanup; a bad value is refused naming the field.
func TestCleanupPerApp(t *testing.T) {
	e := newEnv(t)
	e.start()
	c, err := sidecar.New(e.addr(), sidecar.WithCleanup("1h", "1h"))
	if err != nil {
		t.Fatal(err)
	}
	c.HandleFunc("app", "/echo", echoHandler)
	runClient(t, c)
	e.MustRegistered(t, "app", "/echo")
	// The app's first run follows its registration.
	var st sidecar.CleanupStats
	sidecartest.WaitFor(t, 10*time.Second, "first cleanup", func() bool {
		var err error
		st, err = c.CleanupStats(context.Background(), "app")
		return err == nil && !st.LastCleanup.IsZero()
	})
	if st.Expiry != time.Hour || st.Interval != time.Hour || !st.Running {
		t.Fatalf("stats = %+v, want the app's 1h expiry and interval", st)
	}

	cc, err := grpc.NewClient(e.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := pb.NewSidecarServiceClient(cc).Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Register{Register: &pb.Register{
		App: "app2", Endpoints: []*pb.Endpoint{{Path: "/x"}}, CleanupExpiry: "1.5h",
	}}})
	_, err = stream.Recv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cleanup_expiry") {
		t.Fatalf("bad cleanup_expiry: %v, want InvalidArgument naming the field", err)
	}
}

func TestCleanupFlags(t *testing.T) {
	for _, tc := range []struct{ flag, value string }{{"cleanup-expiry", "1.5h"}, {"cleanup-interval", "1w"}, {"cleanup-expiry", ""}} {
		code, out := run(t, "--data-dir", t.TempDir(), "--email", owner, "--metrics-listen", "", "--"+tc.flag, tc.value)
		if code != 2 || !strings.Contains(out, "-"+tc.flag) {
			t.Errorf("--%s %q: exit %d, %q", tc.flag, tc.value, code, out)
		}
	}
}

// mustEchoThrough serves app's /echo with an in-process client dialing addr
// with opts, and checks that a request comes back 200 with body.
func (e *env) mustEchoThrough(addr, body string, opts ...sidecar.Option) {
	e.t.Helper()
	c, err := sidecar.New(addr, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	c.HandleFunc("app", "/echo", echoHandler)
	runClient(e.t, c)
	e.MustRegistered(e.t, "app", "/echo")
	_, p := e.drop(request{app: "app", endpoint: "/echo", body: []byte(body)})
	wantResponse(e.t, sidecartest.MustResponse(e.t, p, 10*time.Second), 200, body)
}

// MustCert makes a self-signed certificate for 127.0.0.1 in dir.
func MustCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sidecar"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		// One certificate serves as CA, server and client certificate.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With --token-file, a handler without the token is refused, counted and
// logged; with it, it serves. TCP beyond loopback needs a token or TLS.
func TestToken(t *testing.T) {
	e := newEnv(t)
	tokenFile := filepath.Join(e.Path, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	maddr := sidecartest.FreeAddr(t)
	e.flags = []string{"--token-file", tokenFile, "--metrics-listen", maddr}
	e.start()

	for _, tok := range []string{"", "wrong"} {
		c, err := sidecar.New(e.addr(), sidecar.WithToken(tok), sidecar.WithBackoff(10*time.Millisecond, 20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		c.HandleFunc("app", "/echo", echoHandler)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.Run(ctx)
		cancel()
		if status.Code(errorsCause(err)) != codes.Unauthenticated {
			t.Fatalf("token %q: Run = %v, want Unauthenticated", tok, err)
		}
	}
	if v := metric(t, maddr, "syft_sidecar_auth_refused_total"); v != "2" {
		t.Fatalf("auth_refused_total = %q, want 2", v)
	}
	if !strings.Contains(e.sidecar.Output(), "refused unauthenticated call") {
		t.Fatal("refusal not logged")
	}
	// The gRPC health service answers probes without the token.
	cc, err := grpc.NewClient(e.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	hr, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v %v, want SERVING", hr.GetStatus(), err)
	}
	if _, err := pb.NewSidecarServiceClient(cc).GetCleanupStats(context.Background(), &pb.GetCleanupStatsRequest{App: "app"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a unary call without a token: %v, want Unauthenticated", err)
	}

	e.mustEchoThrough(e.addr(), "t", sidecar.WithToken("s3cret"))

	// Beyond loopback: refused without a token, accepted with one.
	if code, out := run(t, "--data-dir", t.TempDir(), "--email", owner, "--metrics-listen", "", "--listen", "0.0.0.0:0"); code != 2 || !strings.Contains(out, "-listen") {
		t.Fatalf("0.0.0.0 without auth: exit %d, %q", code, out)
	}
	for _, bad := range [][]string{{"--token-file", filepath.Join(e.Path, "missing")}, {"--tls-key", tokenFile}} {
		args := append([]string{"--data-dir", t.TempDir(), "--email", owner, "--metrics-listen", ""}, bad...)
		if code, out := run(t, args...); code != 2 || !strings.Contains(out, strings.TrimPrefix(bad[0], "-")) {
			t.Fatalf("%v: exit %d, %q", bad, code, out)
		}
	}
}

// errorsCause unwraps to the gRPC status error inside a client error.
func errorsCause(err error) error {
	for err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
	return nil
}

// Over TLS on TCP, a handler that trusts the certificate serves.
func TestTLS(t *testing.T) {
	e := newEnv(t)
	certFile, keyFile, pool := MustCert(t, e.Path)
	addr := sidecartest.FreeAddr(t)
	args := []string{"--data-dir", e.Path, "--email", owner, "--listen", addr, "--metrics-listen", "", "--tls-cert", certFile, "--tls-key", keyFile}
	sidecartest.MustStart(t, exec.Command(sidecartest.MustBuild(t).Sidecar, args...))
	sidecartest.WaitFor(t, 10*time.Second, "TLS listener", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	e.mustEchoThrough(addr, "tls", sidecar.WithTLS(&tls.Config{RootCAs: pool}))
}

// With --tls-client-ca only handlers holding a certificate the CA signed
// get in; the gRPC health service answers over the same connection.
func TestMutualTLS(t *testing.T) {
	e := newEnv(t)
	certFile, keyFile, pool := MustCert(t, e.Path)
	addr := sidecartest.FreeAddr(t)
	args := []string{"--data-dir", e.Path, "--email", owner, "--listen", addr, "--metrics-listen", "",
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", certFile}
	sidecartest.MustStart(t, exec.Command(sidecartest.MustBuild(t).Sidecar, args...))
	clientCert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}
	health := func(cfg *tls.Config) (healthpb.HealthCheckResponse_ServingStatus, error) {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return 0, err
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		return r.GetStatus(), err
	}
	sidecartest.WaitFor(t, 10*time.Second, "gRPC health SERVING over mutual TLS", func() bool {
		st, err := health(withCert)
		return err == nil && st == healthpb.HealthCheckResponse_SERVING
	})
	if _, err := health(&tls.Config{RootCAs: pool}); err == nil {
		t.Fatal("a client without a certificate got in")
	}
	e.mustEchoThrough(addr, "mtls", sidecar.WithTLS(withCert))
}

// When the kernel's event queue really overflows (lowered to 256 events for
// the sidecar's watchers, which is then stopped while 1,000 requests and
// files arrive), the overflow is counted, a rescan answers every request,
// and event subscribers, connected or away, are told events were lost.
func TestOverflowRescan(t *testing.T) {
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr)
	sidecartest.MustLowerQueuedEvents(t, 256, func() *sidecartest.Proc { e.start(); return e.sidecar })
	e.echo("echo")
	// An answered request shows the watch is in place; .syftkeep alone
	// comes a moment before it.
	_, first := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("first")})
	sidecartest.MustResponse(t, first, 10*time.Second)

	load := filepath.Join(e.Path, "datasites", owner, "load")
	live, away := e.mustEvStream(t), e.mustEvStream(t)
	live.send(watchMsg("w", nil, "{datasite}/load/*"))
	live.subscribed("w")
	away.send(watchMsg("w", nil, "{datasite}/load/*"))
	away.subscribed("w")
	mustWrite(t, filepath.Join(load, "before"), "1")
	live.fileEvent("before")
	cursor := away.fileEvent("before").GetCursor()
	away.cancel()

	e.sidecar.Signal(t, syscall.SIGSTOP)
	paths := e.burst("echo", 1000)
	for i := 0; i < 1000; i++ {
		mustWrite(t, filepath.Join(load, strconv.Itoa(i)), "x")
	}
	e.sidecar.Signal(t, syscall.SIGCONT)
	allAnswered(t, paths, 60*time.Second)
	if v := metric(t, maddr, "syft_sidecar_watcher_overflows_total"); v == "" || v == "0" {
		t.Fatalf("watcher_overflows_total = %q: the queue did not overflow", v)
	}
	if v := metric(t, maddr, `syft_sidecar_watcher_rescans_total{reason="overflow"}`); v == "" || v == "0" {
		t.Fatalf(`watcher_rescans_total{reason="overflow"} = %q`, v)
	}
	isMissed := func(m *pb.ConnectResponse) bool { return m.GetMissedEvents() != nil }
	if m := live.next("missed events (connected)", isMissed).GetMissedEvents(); m.GetReason() != "overflow" {
		t.Fatalf("missed = %v, want reason overflow", m)
	}
	back := e.mustEvStream(t)
	back.send(watchMsg("w", cursor, "{datasite}/load/*"))
	if m := back.next("missed events (resumed)", isMissed).GetMissedEvents(); m.GetReason() != "overflow" {
		t.Fatalf("missed on resume = %v, want reason overflow", m)
	}
}

// --reconcile-interval rescans on its own.
func TestReconcile(t *testing.T) {
	maddr := sidecartest.FreeAddr(t)
	e := newEnv(t, "--metrics-listen", maddr, "--reconcile-interval", "100ms")
	e.start()
	e.echo("echo")
	e.MustRegistered(t, "echo", "/echo")
	sidecartest.WaitFor(t, 10*time.Second, "two reconcile rescans", func() bool {
		v := metric(t, maddr, `syft_sidecar_watcher_rescans_total{reason="reconcile"}`)
		return v != "" && v != "0" && v != "1"
	})
	_, p := e.drop(request{app: "echo", endpoint: "/echo", body: []byte("r")})
	wantResponse(t, sidecartest.MustResponse(t, p, 10*time.Second), 200, "r")
}

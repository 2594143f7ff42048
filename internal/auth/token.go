// Package auth checks the bearer token that handlers send with every call,
// for sidecars that listen beyond a private unix socket.
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Header is the metadata key the token travels in, as "Bearer <token>".
const Header = "authorization"

// ReadTokenFile reads a token from a file, trimming white space around it.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("token file is empty")
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", errors.New("token file holds more than one line")
	}
	return tok, nil
}

// Token checks the bearer token on every call except the gRPC health
// service, which probes (Kubernetes' among them) call without credentials.
type Token struct {
	token   []byte
	Refused func() // counts a refusal; optional
	Logger  *slog.Logger
	lastLog atomic.Int64 // unix nanoseconds of the last refusal logged
}

// NewToken returns a checker for token.
func NewToken(token string) *Token {
	return &Token{token: []byte(token), Logger: slog.Default()}
}

// check returns nil when ctx carries the token.
func (t *Token) check(ctx context.Context, method string) error {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(Header) {
		if got, ok := strings.CutPrefix(v, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(got), t.token) == 1 {
			return nil
		}
	}
	if t.Refused != nil {
		t.Refused()
	}
	// One line per refusal is what an operator needs, but not a flood from
	// a client retrying in a loop: at most one a second.
	now := time.Now().UnixNano()
	if last := t.lastLog.Load(); now-last > int64(time.Second) && t.lastLog.CompareAndSwap(last, now) {
		addr := "unknown"
		if p, ok := peer.FromContext(ctx); ok {
			addr = p.Addr.String()
		}
		reason := "no token"
		if len(md.Get(Header)) > 0 {
			reason = "wrong token"
		}
		t.Logger.Warn("refused unauthenticated call", "method", method, "peer", addr, "reason", reason)
	}
	return status.Error(codes.Unauthenticated, "missing or wrong token: send \"authorization: Bearer <token>\"")
}

// Unary is the interceptor for unary calls.
func (t *Token) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := t.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// Stream is the interceptor for streams.
func (t *Token) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := t.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
	"github.com/openmined/syft-sidecar/internal/syftrpc"
)

// relay is floor serve with the sidecar's design and none of its code: woken
// by inotify, it reads each request, asks a second process (floor peer) for
// the body over one round trip, and writes the response, all on one
// goroutine. Over gRPC the round trip is one bidirectional stream carrying
// the sidecar's own messages (a Request out, a Reply back), the relay being
// the server as the sidecar is; over unix, length-prefixed bodies on a plain
// socket. The difference between floor serve and this is what the design's
// two extra process wake-ups (and gRPC) cost; the difference between this
// and the sidecar is what the sidecar's own code costs.
func relay(args []string) error {
	fs, c := flags("floor relay")
	via := fs.String("via", "grpc", "grpc or unix")
	listen := fs.String("listen", "", "unix socket path the peer connects to")
	window := fs.Int("window", 0, "gRPC: static flow-control windows of this many bytes (0: grpc-go's dynamic windows)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *c.workers != 1 || *listen == "" {
		return errors.New("relay: --listen is required, and it has one worker")
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	var ask func(req *syftrpc.Request) ([]byte, error)
	switch *via {
	case "unix":
		lis, err := net.Listen("unix", *listen)
		if err != nil {
			return err
		}
		defer lis.Close()
		conn, err := lis.Accept()
		if err != nil {
			return err
		}
		defer conn.Close()
		ask = unixAsk(conn)
	case "grpc":
		lis, err := net.Listen("unix", *listen)
		if err != nil {
			return err
		}
		streams, done := make(chan grpc.ServerStream), make(chan struct{})
		defer close(done)
		desc := relayDesc(func(_ any, st grpc.ServerStream) error {
			streams <- st
			<-done
			return nil
		})
		opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(16 << 20)}
		if *window > 0 {
			opts = append(opts, grpc.StaticStreamWindowSize(int32(*window)), grpc.StaticConnWindowSize(int32(*window)))
		}
		srv := grpc.NewServer(opts...)
		srv.RegisterService(&desc, struct{}{})
		go func() { _ = srv.Serve(lis) }()
		defer srv.Stop()
		ask = grpcAsk(<-streams)
	default:
		return fmt.Errorf("unknown --via %q", *via)
	}
	return serve(*c.dir, func(name string) { report(r.AnswerVia(name, ask)) })
}

// relayDesc is the relay's one gRPC method, a bidirectional stream of the
// sidecar's messages, served by h.
func relayDesc(h grpc.StreamHandler) grpc.ServiceDesc {
	return grpc.ServiceDesc{
		ServiceName: "floor.Relay",
		HandlerType: (*any)(nil),
		Streams:     []grpc.StreamDesc{{StreamName: "Echo", Handler: h, ServerStreams: true, ClientStreams: true}},
	}
}

// grpcAsk sends each request as the sidecar delivers it and waits for the
// peer's Reply.
func grpcAsk(st grpc.ServerStream) func(req *syftrpc.Request) ([]byte, error) {
	return func(req *syftrpc.Request) ([]byte, error) {
		m := &pb.ConnectResponse{Msg: &pb.ConnectResponse_Request{Request: &pb.Request{
			Id: req.ID, Sender: req.Sender, Url: req.URL, Method: req.Method, Headers: req.Headers, Body: req.Body,
		}}}
		if err := st.SendMsg(m); err != nil {
			return nil, err
		}
		var back pb.ConnectRequest
		if err := st.RecvMsg(&back); err != nil {
			return nil, err
		}
		rep := back.GetReply()
		if rep.GetRequestId() != req.ID {
			return nil, fmt.Errorf("reply to %q, not %q", rep.GetRequestId(), req.ID)
		}
		return rep.Body, nil
	}
}

// unixAsk sends each request's body, length first, and reads the peer's
// back the same way.
func unixAsk(conn net.Conn) func(req *syftrpc.Request) ([]byte, error) {
	var buf []byte
	return func(req *syftrpc.Request) ([]byte, error) {
		buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(req.Body)))
		buf = append(buf, req.Body...)
		if _, err := conn.Write(buf); err != nil {
			return nil, err
		}
		return readFrame(conn)
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, body)
	return body, err
}

// peer is the relay's second process: it echoes what the relay sends, on
// one goroutine, until the relay goes.
func peer(args []string) error {
	fs := flag.NewFlagSet("floor peer", flag.ContinueOnError)
	via := fs.String("via", "grpc", "grpc or unix")
	connect := fs.String("connect", "", "the relay's unix socket")
	window := fs.Int("window", 0, "gRPC: static flow-control windows of this many bytes (0: grpc-go's dynamic windows)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *via {
	case "unix":
		conn, err := net.Dial("unix", *connect)
		if err != nil {
			return err
		}
		defer conn.Close()
		var out []byte
		for {
			body, err := readFrame(conn)
			if err != nil {
				return ignoreEnd(err)
			}
			out = binary.BigEndian.AppendUint32(out[:0], uint32(len(body)))
			if _, err := conn.Write(append(out, body...)); err != nil {
				return ignoreEnd(err)
			}
		}
	case "grpc":
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16 << 20))}
		if *window > 0 {
			opts = append(opts, grpc.WithStaticStreamWindowSize(int32(*window)), grpc.WithStaticConnWindowSize(int32(*window)))
		}
		conn, err := grpc.NewClient("unix://"+*connect, opts...)
		if err != nil {
			return err
		}
		defer conn.Close()
		desc := relayDesc(nil)
		st, err := conn.NewStream(context.Background(), &desc.Streams[0], "/floor.Relay/Echo")
		if err != nil {
			return err
		}
		for {
			var m pb.ConnectResponse
			if err := st.RecvMsg(&m); err != nil {
				return ignoreEnd(err)
			}
			r := m.GetRequest()
			rep := &pb.ConnectRequest{Msg: &pb.ConnectRequest_Reply{Reply: &pb.Reply{
				RequestId: r.GetId(), Attempt: r.GetAttempt(), StatusCode: 200, Body: r.GetBody(),
			}}}
			if err := st.SendMsg(rep); err != nil {
				return ignoreEnd(err)
			}
		}
	default:
		return fmt.Errorf("unknown --via %q", *via)
	}
}

// ignoreEnd: the relay going away ends the peer, not as a failure.
func ignoreEnd(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

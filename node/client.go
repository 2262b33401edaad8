package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/phantomdb/phantom/api/phantompb"
	"github.com/phantomdb/phantom/core"
)

// Conn is the controller's gRPC line to one node: a core.NodeConn.
type Conn struct {
	addr string
	cc   *grpc.ClientConn
	c    phantompb.NodeClient
}

var _ core.NodeConn = (*Conn)(nil)

// Dial makes a line to the node serving at addr. It connects lazily; the
// first call says whether the node is there.
func Dial(addr string) (*Conn, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("node: dial %s: %w", addr, err)
	}
	return &Conn{addr: addr, cc: cc, c: phantompb.NewNodeClient(cc)}, nil
}

// Addr is the node's API address.
func (c *Conn) Addr() string { return c.addr }

// lineErr turns a failed call into core.ErrNodeUnreachable when the node
// did not answer, so that the cluster retries elsewhere.
func lineErr(err error) error {
	if err == nil {
		return nil
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
		return fmt.Errorf("%w: %w", core.ErrNodeUnreachable, err)
	}
	return err
}

func (c *Conn) Info(ctx context.Context) (*phantompb.InfoResponse, error) {
	r, err := c.c.Info(ctx, &phantompb.InfoRequest{})
	return r, lineErr(err)
}

func (c *Conn) StartReplica(ctx context.Context, spec []byte) (string, error) {
	r, err := c.c.StartReplica(ctx, &phantompb.StartReplicaRequest{Spec: spec})
	if err != nil {
		return "", lineErr(err)
	}
	return r.RaftAddr, core.DecodeError(r.Error)
}

func (c *Conn) StopReplica(ctx context.Context, shard int, drop bool) error {
	r, err := c.c.StopReplica(ctx, &phantompb.StopReplicaRequest{Shard: int32(shard), Drop: drop})
	if err != nil {
		return lineErr(err)
	}
	return core.DecodeError(r.Error)
}

func (c *Conn) Apply(ctx context.Context, shard int, cmd []byte, timeout time.Duration) (uint64, []byte, error) {
	r, err := c.c.Apply(ctx, &phantompb.ApplyRequest{Shard: int32(shard), Command: cmd, TimeoutNs: int64(timeout)})
	if err != nil {
		return 0, nil, lineErr(err)
	}
	if err := core.DecodeError(r.Error); err != nil {
		return 0, nil, err
	}
	return r.Index, r.Response, nil
}

func (c *Conn) Read(ctx context.Context, shard int, q []byte, timeout time.Duration) ([]byte, error) {
	r, err := c.c.Read(ctx, &phantompb.ReadRequest{Shard: int32(shard), Query: q, TimeoutNs: int64(timeout)})
	if err != nil {
		return nil, lineErr(err)
	}
	if err := core.DecodeError(r.Error); err != nil {
		return nil, err
	}
	return r.Answer, nil
}

func (c *Conn) Raft(ctx context.Context, shard int, op []byte) ([]byte, error) {
	r, err := c.c.Raft(ctx, &phantompb.RaftRequest{Shard: int32(shard), Op: op})
	if err != nil {
		return nil, lineErr(err)
	}
	if err := core.DecodeError(r.Error); err != nil {
		return nil, err
	}
	return r.Result, nil
}

func (c *Conn) Network(ctx context.Context, op []byte) error {
	r, err := c.c.Network(ctx, &phantompb.NetworkRequest{Op: op})
	if err != nil {
		return lineErr(err)
	}
	return core.DecodeError(r.Error)
}

func (c *Conn) Status(ctx context.Context) ([]byte, error) {
	r, err := c.c.Status(ctx, &phantompb.StatusRequest{})
	if err != nil {
		return nil, lineErr(err)
	}
	return r.Replicas, nil
}

// Resources asks the node what its process uses.
func (c *Conn) Resources(ctx context.Context) (*phantompb.Resources, error) {
	r, err := c.c.Status(ctx, &phantompb.StatusRequest{})
	if err != nil {
		return nil, lineErr(err)
	}
	return r.Resources, nil
}

func (c *Conn) Ping(ctx context.Context) error {
	_, err := c.c.Ping(ctx, &phantompb.PingRequest{})
	return lineErr(err)
}

// Renew renews the node's parent lease.
func (c *Conn) Renew(ctx context.Context) error {
	_, err := c.c.Ping(ctx, &phantompb.PingRequest{Renew: true})
	return lineErr(err)
}

func (c *Conn) Watch(ctx context.Context, f func(shard int, leader string, term uint64)) error {
	stream, err := c.c.Watch(ctx, &phantompb.WatchRequest{})
	if err != nil {
		return lineErr(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: %s ended its watch", core.ErrNodeUnreachable, c.addr)
			}
			return lineErr(err)
		}
		f(int(ev.Shard), ev.Leader, ev.Term)
	}
}

// Exit tells the node to exit: abrupt at once, as a crash.
func (c *Conn) Exit(ctx context.Context, abrupt bool) error {
	_, err := c.c.Exit(ctx, &phantompb.ExitRequest{Abrupt: abrupt})
	return lineErr(err)
}

// Reset stops and drops the node's replicas.
func (c *Conn) Reset(ctx context.Context) error {
	r, err := c.c.Reset(ctx, &phantompb.ResetRequest{})
	if err != nil {
		return lineErr(err)
	}
	return core.DecodeError(r.Error)
}

func (c *Conn) Close() error { return c.cc.Close() }

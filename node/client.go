package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
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

	// The applies waiting for a sender (Apply, sendApplies).
	amu     sync.Mutex
	queue   []*pendingApply
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	senders sync.WaitGroup
}

var _ core.NodeConn = (*Conn)(nil)

// Dial makes a line to the node serving at addr. It connects lazily; the
// first call says whether the node is there.
func Dial(addr string) (*Conn, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
	if err != nil {
		return nil, fmt.Errorf("node: dial %s: %w", addr, err)
	}
	c := &Conn{addr: addr, cc: cc, c: phantompb.NewNodeClient(cc), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	for range applySenders {
		c.senders.Go(c.sendApplies)
	}
	return c, nil
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

// Apply sends cmd to the node's replica of shard. Commands sent to the
// node at the same time travel together: the line's sender takes what
// has queued while its last call was out and sends it in one call
// (ApplyBatch), so a busy controller makes a call per round trip rather
// than one per command.
//
// With timed, the node times the command (core.NodeTimes); in a batch each
// command's times are its own. The line times the command's wait here,
// from queueing it to the sender's call leaving with it (NodeTimes.Line):
// two clock readings in the pendingApply already allocated for it.
func (c *Conn) Apply(ctx context.Context, shard int, cmd []byte, timeout time.Duration, timed bool) (uint64, []byte, core.NodeTimes, error) {
	req := &pendingApply{req: &phantompb.ApplyRequest{Shard: int32(shard), Command: cmd, TimeoutNs: int64(timeout), Timed: timed}, done: make(chan struct{})}
	if deadline, ok := ctx.Deadline(); ok {
		req.deadline = deadline
	}
	if timed {
		req.queued = time.Now()
	}
	c.amu.Lock()
	if c.closed {
		c.amu.Unlock()
		return 0, nil, core.NodeTimes{}, fmt.Errorf("%w: the line to %s is closed", core.ErrNodeUnreachable, c.addr)
	}
	c.queue = append(c.queue, req)
	c.amu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // a sender is already woken, and takes this one too
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return 0, nil, core.NodeTimes{}, lineErr(status.FromContextError(ctx.Err()).Err())
	}
	if req.err != nil {
		return 0, nil, core.NodeTimes{}, req.err
	}
	r := req.resp
	if err := core.DecodeError(r.Error); err != nil {
		return 0, nil, core.NodeTimes{}, err
	}
	t := core.NodeTimes{Took: time.Duration(r.TookNs), Phases: core.Phases{Queue: time.Duration(r.QueueNs),
		Append: time.Duration(r.AppendNs), Replicate: time.Duration(r.ReplicateNs), Apply: time.Duration(r.ApplyNs)}}
	if timed {
		t.Line = req.sent.Sub(req.queued)
	}
	return r.Index, r.Response, t, nil
}

// applySenders is how many calls of queued applies a line has out at once.
// Each waits for all its commands' commits, on the shards the node leads.
// One makes the biggest batches (about 11 commands a call with 64 writers
// on 3 nodes). The wait in the line it causes is the largest part of the
// hop (BenchmarkPut64Phases: of a 4.0 ms put, line 1.6 ms, wire 1.4 ms, the
// node 0.9 ms), but it is not what limits a put: on 2 cores the controller
// and the three nodes use the CPUs up (about 42% of a core each), and more
// calls in flight only move the wait from the line to the wire and the
// node. Two senders cut the line by 18% and four by 20%, for 12% and 22%
// fewer puts/s; a second sender taking only batches of 16 or more cut it
// by 22–32% with no change in puts/s or latency (benchstat, n=8–12).
const applySenders = 1

// pendingApply is one Apply waiting to be sent or answered.
type pendingApply struct {
	req      *phantompb.ApplyRequest
	deadline time.Time // the caller's, zero for none
	// When a timed apply was queued, and when the call carrying it left
	// (the sender sets sent before the call; the caller reads it after
	// done is closed).
	queued, sent time.Time
	resp         *phantompb.ApplyResponse
	err          error
	done         chan struct{}
}

// sendApplies is one of the line's senders: it sends what has queued, a
// batch per call, until the line closes.
func (c *Conn) sendApplies() {
	for {
		c.amu.Lock()
		n := batchLen(c.queue)
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil // let the backing array go
		}
		closed := c.closed
		c.amu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			select {
			case <-c.wake:
			case <-c.stop:
			}
			continue
		}
		if closed {
			for _, p := range batch {
				p.err = fmt.Errorf("%w: the line to %s is closed", core.ErrNodeUnreachable, c.addr)
				close(p.done)
			}
			continue
		}
		c.send(batch)
	}
}

// MaxMessageBytes is the largest gRPC message a node and its controller
// take, either way: a command with a value of the largest data size
// phantom writes (16 MiB), or a read's answer with one, and room for the
// call's other fields. gRPC's default, 4 MiB, refused every put of a
// larger value.
const MaxMessageBytes = 64 << 20

// serverOptions are a node's gRPC server's.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes)}
}

// MaxBatchBytes bounds the commands one ApplyBatch call carries, so that
// a call stays well inside MaxMessageBytes: at 1 MiB values the whole
// queue of 20 clients' puts went in one call of 16 MiB or more, past
// gRPC's limit, and failed together. A single command larger than it
// still goes, alone.
const MaxBatchBytes = 4 << 20

// batchLen is how many of the commands at the head of queue one call
// takes: all of them, up to MaxBatchBytes, and at least one.
func batchLen(queue []*pendingApply) int {
	size := 0
	for i, p := range queue {
		size += len(p.req.Command)
		if i > 0 && size > MaxBatchBytes {
			return i
		}
	}
	return len(queue)
}

// send makes one call for batch and answers each of its applies.
func (c *Conn) send(batch []*pendingApply) {
	// The call lasts as long as the latest deadline of its commands.
	var deadline time.Time
	for _, p := range batch {
		d := p.deadline
		if d.IsZero() {
			d = time.Now().Add(time.Duration(p.req.TimeoutNs) + time.Second)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Where the batch leaves the line: one clock reading for the batch,
	// and none when no command in it is timed.
	var sent time.Time
	for _, p := range batch {
		if p.req.Timed {
			if sent.IsZero() {
				sent = time.Now()
			}
			p.sent = sent
		}
	}
	if len(batch) == 1 {
		r, err := c.c.Apply(ctx, batch[0].req)
		batch[0].resp, batch[0].err = r, lineErr(err)
		close(batch[0].done)
		return
	}
	reqs := make([]*phantompb.ApplyRequest, len(batch))
	for i, p := range batch {
		reqs[i] = p.req
	}
	r, err := c.c.ApplyBatch(ctx, &phantompb.ApplyBatchRequest{Requests: reqs})
	if err == nil && len(r.Responses) != len(batch) {
		err = fmt.Errorf("node: %s answered %d of %d commands", c.addr, len(r.Responses), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.err = lineErr(err)
		} else {
			p.resp = r.Responses[i]
		}
		close(p.done)
	}
}

func (c *Conn) Read(ctx context.Context, shard int, q []byte, timeout time.Duration, timed bool) ([]byte, core.NodeTimes, error) {
	r, err := c.c.Read(ctx, &phantompb.ReadRequest{Shard: int32(shard), Query: q, TimeoutNs: int64(timeout), Timed: timed})
	if err != nil {
		return nil, core.NodeTimes{}, lineErr(err)
	}
	if err := core.DecodeError(r.Error); err != nil {
		return nil, core.NodeTimes{}, err
	}
	t := core.NodeTimes{Took: time.Duration(r.TookNs),
		Phases: core.Phases{ReadIndex: time.Duration(r.ReadIndexNs), ApplyWait: time.Duration(r.ApplyWaitNs)}}
	return r.Answer, t, nil
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
	r, err := c.c.Status(ctx, &phantompb.StatusRequest{ReplicasOnly: true})
	if err != nil {
		return nil, lineErr(err)
	}
	return r.Replicas, nil
}

// Resources asks the node what its process uses.
func (c *Conn) Resources(ctx context.Context) (*phantompb.Resources, error) {
	return c.resources(ctx, false)
}

// resources asks the node what its process uses; with countersOnly, only
// its network and uptime (the rest left zero).
func (c *Conn) resources(ctx context.Context, countersOnly bool) (*phantompb.Resources, error) {
	r, err := c.c.Status(ctx, &phantompb.StatusRequest{CountersOnly: countersOnly})
	if err != nil {
		return nil, lineErr(err)
	}
	if r.Resources == nil {
		return nil, fmt.Errorf("node: %s reported no resources", c.addr)
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

// Close lets go of the line: calls out end, and applies still queued fail
// with core.ErrNodeUnreachable. Closing again does nothing.
func (c *Conn) Close() error {
	c.amu.Lock()
	if c.closed {
		c.amu.Unlock()
		return nil
	}
	c.closed = true
	c.amu.Unlock()
	close(c.stop)
	err := c.cc.Close()
	c.senders.Wait()
	return err
}

package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Cluster is an in-process PhantomDB cluster. Its methods are safe for
// concurrent use, including Close with calls in flight.
type Cluster struct {
	cfg Config

	// nodes, byID and shards are fixed once NewCluster returns, so reading
	// them takes no lock; what changes at run time (a node going down, a
	// replica's raft state) is atomic or raft's own.
	nodes  []*node
	byID   map[string]*node
	shards []*shard

	mu     sync.Mutex // serialises StopNode and Close
	closed atomic.Bool
	done   chan struct{} // closed by Close, so that calls waiting out a backoff return at once
}

// NewCluster validates cfg, starts cfg.Nodes nodes and the shard's replicas
// on them, and returns once the shard has elected a leader. If ctx ends
// first (or, when ctx has no deadline, cfg.OpTimeout passes), it stops
// everything it started and returns an error.
func NewCluster(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:  cfg,
		byID: make(map[string]*node, cfg.Nodes),
		done: make(chan struct{}),
	}
	for i := range cfg.Nodes {
		n := newNode(i)
		c.nodes = append(c.nodes, n)
		c.byID[n.id] = n
	}
	sh, err := startShard(0, placeReplicas(0, c.nodes), cfg, newLogger(cfg.LogOutput))
	if sh != nil {
		c.shards = append(c.shards, sh)
	}
	if err == nil {
		_, err = c.waitLeader(ctx, "start")
	}
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// newLogger never returns a logger that writes to stderr: hclog.New falls
// back to stderr when Output is nil.
func newLogger(w io.Writer) hclog.Logger {
	if w == nil {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "core", Output: w, Level: hclog.Info})
}

// shardFor hash-partitions keys over the shards.
func (c *Cluster) shardFor(key string) *shard {
	if len(c.shards) == 1 {
		return c.shards[0]
	}
	// FNV-1a, inline so that routing a call allocates nothing.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return c.shards[h%uint32(len(c.shards))]
}

// WaitLeader waits until the shard has a leader and returns its node id. It
// gives up when ctx ends or, when ctx has no deadline, after Config.OpTimeout.
func (c *Cluster) WaitLeader(ctx context.Context) (string, error) {
	return c.waitLeader(ctx, "wait for leader")
}

func (c *Cluster) waitLeader(ctx context.Context, op string) (string, error) {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	sh := c.shards[0]
	for {
		if _, err := rt.begin(); err != nil {
			return "", err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			return rep.node.id, nil
		}
		if err := rt.after(err); err != nil {
			return "", err
		}
	}
}

// StopNode crashes a node: its replicas' raft instances and transports stop
// abruptly, and the cluster carries on with the rest if they still form a
// quorum. Stopping a stopped node does nothing.
func (c *Cluster) StopNode(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	n := c.byID[id]
	if n == nil {
		return fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	if !n.up.Load() {
		return nil
	}
	return n.stop()
}

// Close stops every replica and waits for their goroutines, raft's included.
// Calls in flight return ErrClosed, as does every call afterwards. Closing
// again does nothing and returns nil.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.done)
	for _, n := range c.nodes {
		n.up.Store(false)
	}
	var errs []error
	for _, sh := range c.shards {
		errs = append(errs, sh.stop())
	}
	return errors.Join(errs...)
}

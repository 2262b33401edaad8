package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

func (c *Cluster) node(id string) (*node, error) {
	c.topo.RLock()
	n := c.byID[id]
	c.topo.RUnlock()
	if n == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	return n, nil
}

// CrashNode crashes a node: its replicas' raft instances and transports stop
// abruptly, without a goodbye, and the cluster carries on with the rest
// where they still form a quorum. Crashing a crashed node does nothing.
func (c *Cluster) CrashNode(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if !n.up.Load() {
		return nil
	}
	c.markLeadersLost(n)
	return n.stop()
}

// markLeadersLost records, for every shard n leads, that its leader is gone
// as of now.
func (c *Cluster) markLeadersLost(n *node) {
	now := time.Now()
	for _, st := range n.seats() {
		if st.replica().leading() {
			st.shard.markLost(now)
		}
	}
}

// RestartNode restarts a crashed node, as a process restarting over its
// durable storage: each replica comes back on its old address over the log,
// term, vote and snapshot it had, rebuilds its state machine from them, and
// catches up from its shard's leader in the background. Status shows the
// node up at once. Restarting a node that is up does nothing.
func (c *Cluster) RestartNode(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if n.up.Load() {
		return nil
	}
	var errs []error
	for _, st := range n.seats() {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		errs = append(errs, c.restartSeat(st))
	}
	n.up.Store(true)
	return errors.Join(errs...)
}

// restartSeat starts a new replica over st's stores if its current one has
// stopped. c.mu must be held.
func (c *Cluster) restartSeat(st *seat) error {
	if !st.replica().stopped.Load() || st.shard.seatOn(st.node) != st {
		return nil // running, or moved off the node by RemoveNode or AddNode
	}
	stream, err := netsim.Listen(string(st.addr), c.nw, st.node.index)
	if err != nil {
		return fmt.Errorf("core: restart shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	if _, err := startReplica(st, stream, c.cfg, c.logger); err != nil {
		_ = stream.Close()
		return err
	}
	return nil
}

// KillLeader crashes the replica leading shard — that replica only, not the
// rest of its node — and returns the id of the node that hosted it. Once the
// shard has elected another leader, the killed replica restarts over its
// stores and rejoins as a follower, so the shard keeps its replication
// factor. It returns when the new leader is up, or with an error when ctx
// (or, without a deadline, Config.OpTimeout) ends first. A shard with a
// single replica cannot elect another; its replica restarts at once.
func (c *Cluster) KillLeader(ctx context.Context, shard int) (string, error) {
	sh, err := c.shard(shard)
	if err != nil {
		return "", err
	}
	rep, err := c.waitLeader(ctx, sh, "kill leader")
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return "", ErrClosed
	}
	sh.markLost(time.Now())
	err = rep.stop()
	c.mu.Unlock()
	if err != nil {
		return rep.node.id, err
	}

	var waitErr error
	if len(sh.seats()) > 1 {
		_, waitErr = c.waitLeaderOtherThan(ctx, sh, rep, "kill leader")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return rep.node.id, ErrClosed
	}
	// A crash of the whole node meanwhile leaves the replica down with it.
	if rep.node.up.Load() && rep.seat.replica() == rep {
		if err := c.restartSeat(rep.seat); err != nil {
			return rep.node.id, errors.Join(waitErr, err)
		}
	}
	return rep.node.id, waitErr
}

// TransferLeader moves the leadership of shard to another of its replicas,
// the one raft finds most up to date, and returns once it has moved.
func (c *Cluster) TransferLeader(ctx context.Context, shard int) error {
	sh, err := c.shard(shard)
	if err != nil {
		return err
	}
	rep, err := c.waitLeader(ctx, sh, "transfer leader")
	if err != nil {
		return err
	}
	if !rep.enter() {
		return fmt.Errorf("core: transfer leader of shard %d: %w", shard, ErrNoLeader)
	}
	sh.markLost(time.Now())
	err = rep.raft.LeadershipTransfer().Error()
	rep.exit()
	if err != nil {
		sh.clearLost(rep)
		return fmt.Errorf("core: transfer leader of shard %d: %w", shard, err)
	}
	_, err = c.waitLeaderOtherThan(ctx, sh, rep, "transfer leader")
	return err
}

// Link shapes the traffic one node sends to another; see SetLink. The zero
// Link leaves traffic alone. The network simulation that applies it lives
// in core/internal/netsim.
type Link = netsim.Link

// SetLink shapes the traffic from node from to node to, replacing the
// link's previous shaping; the zero Link removes it. It applies at once,
// to connections already open too.
func (c *Cluster) SetLink(from, to string, l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	a, err := c.node(from)
	if err != nil {
		return err
	}
	b, err := c.node(to)
	if err != nil {
		return err
	}
	c.nw.SetLink(a.index, b.index, l)
	return nil
}

// SetAllLinks gives every link between two nodes, in both directions, the
// same shaping; the zero Link removes all shaping. Nodes added later get it
// too on their links.
func (c *Cluster) SetAllLinks(l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	c.topo.RLock()
	defer c.topo.RUnlock()
	c.nw.SetDefaultLink(l)
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				c.nw.SetLink(a.index, b.index, l)
			}
		}
	}
	return nil
}

// Partition cuts a node off from every other node: its connections to them
// are cut and dials either way fail until Heal. The node keeps running; the
// shards it leads elect new leaders elsewhere once its lease runs out.
func (c *Cluster) Partition(id string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.markLeadersLost(n)
	c.nw.Isolate(n.index)
	return nil
}

// Heal ends every partition. Links keep their shaping.
func (c *Cluster) Heal() { c.nw.Heal() }

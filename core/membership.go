package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Live membership. AddNode and RemoveNode move replicas one at a time with
// the add-then-remove dance, so a shard never has fewer up-to-date voters
// than before a move:
//
//  1. start an empty replica on the target node and add it to the group as
//     a nonvoter, which replicates to it without counting it in quorums;
//  2. wait until its state machine has applied everything the leader had
//     committed once it was added (catch-up, by log or by snapshot);
//  3. promote it to voter;
//  4. move the leadership away from the replica leaving, if it leads, and
//     remove that replica from the group; once the removal commits, stop it.
//
// Every step is a Raft configuration change on the shard's leader, retried
// across leader changes, so writes carry on throughout and none that was
// acknowledged is lost: each committed entry stays on a quorum of the
// configuration at every step. The new placement is written to the meta
// group after each move.

// catchUpPoll is how often a joining replica's progress is checked.
const catchUpPoll = 2 * time.Millisecond

// AddNode starts a new node, registers it in the meta group and moves
// replicas onto it until it hosts its share, then rebalances leaderships. A
// cluster of one or two nodes grows its shards' replication factor instead,
// adding a replica on the new node to every shard (and to the meta group).
// It returns the new node's id.
//
// It fails with ErrTooManyNodes once the cluster has Config.MaxNodes nodes.
// Each step waits at most until ctx ends or, when ctx has no deadline,
// Config.OpTimeout. On error the node stays in the cluster with whatever
// replicas had moved; the cluster stays consistent.
func (c *Cluster) AddNode(ctx context.Context) (string, error) {
	if c.closed.Load() {
		return "", ErrClosed
	}
	c.memberMu.Lock()
	defer c.memberMu.Unlock()
	n, err := c.joinNode()
	if err != nil {
		return "", err
	}
	if err := c.metaPut(ctx, metaNodeKey(n.id), metaNode{State: StateUp}); err != nil {
		return n.id, fmt.Errorf("core: add node %s: register: %w", n.id, err)
	}
	if err := c.rebalanceOnto(ctx, n); err != nil {
		return n.id, fmt.Errorf("core: add node %s: %w", n.id, err)
	}
	if err := c.metaPut(ctx, metaNodeKey(n.id), metaNode{Addr: n.addr(), State: StateUp}); err != nil {
		return n.id, fmt.Errorf("core: add node %s: register: %w", n.id, err)
	}
	c.assignLeaders()
	if err := c.balanceLeaders(ctx); err != nil {
		return n.id, fmt.Errorf("core: add node %s: balance leaders: %w", n.id, err)
	}
	return n.id, nil
}

// joinNode makes a node in a free network slot and starts its heartbeats.
func (c *Cluster) joinNode() (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if len(c.nodes) >= c.cfg.maxNodes() || len(c.freeSlots) == 0 {
		return nil, fmt.Errorf("%w (%d nodes)", ErrTooManyNodes, len(c.nodes))
	}
	slot := c.freeSlots[len(c.freeSlots)-1]
	c.freeSlots = c.freeSlots[:len(c.freeSlots)-1]
	n := newNode(c.nextSeq, slot)
	if c.remoteMode() {
		n.remote = true
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
		conn, err := c.cfg.Launcher.Start(ctx, n.id, slot)
		cancel()
		if err != nil {
			c.freeSlots = append(c.freeSlots, slot)
			return nil, fmt.Errorf("core: add node %s: %w", n.id, err)
		}
		c.attach(n, conn)
	}
	c.nextSeq++
	if t := c.nw.Traffic(slot); t != nil {
		// Before any of the node's replicas listens: its counters start
		// here, whoever held the slot before.
		n.baseSent, n.baseRecv = t.Sent(), t.Recv()
	}
	others := make([]int, len(c.nodes))
	for i, o := range c.nodes {
		others[i] = o.index
	}
	c.nw.Join(slot, others)
	// The new node's links have the default shaping, which may lengthen
	// the worst round trip.
	c.retimeGen++
	c.settleLocked(c.retimeGen)
	c.det.touch(n.id, time.Now())
	c.topo.Lock()
	c.nodes = append(c.nodes, n)
	c.byID[n.id] = n
	c.topo.Unlock()
	c.startHeartbeats(n)
	return n, nil
}

// groups returns the meta group and the shards.
func (c *Cluster) groups() []*shard {
	return append([]*shard{c.meta}, c.shards...)
}

// shardLoad counts the shard replicas (the meta group's not counted) on
// each of nodes.
func shardLoad(nodes []*node) map[*node]int {
	load := make(map[*node]int, len(nodes))
	for _, n := range nodes {
		for _, st := range n.seats() {
			if st.shard.id != metaShardID {
				load[n]++
			}
		}
	}
	return load
}

// rebalanceOnto gives the new node n its share: first a replica of every
// group still short of min(3, nodes) replicas, then replicas moved from the
// most loaded nodes until n hosts about S×RF/N of them.
func (c *Cluster) rebalanceOnto(ctx context.Context, n *node) error {
	c.topo.RLock()
	nodes := slices.Clone(c.nodes)
	c.topo.RUnlock()
	rf := min(replicationFactor, len(nodes))
	for _, sh := range c.groups() {
		if len(sh.seats()) < rf && sh.seatOn(n) == nil {
			if _, err := c.addReplica(ctx, sh, n); err != nil {
				return err
			}
			if err := c.recordPlacement(ctx, sh); err != nil {
				return err
			}
		}
	}
	total := 0
	for _, sh := range c.shards {
		total += len(sh.seats())
	}
	target := total / len(nodes)
	for {
		load := shardLoad(nodes)
		if load[n] >= target {
			return nil
		}
		// The most loaded node, and of its shards one that n lacks,
		// preferring one it does not lead so that no leadership moves.
		var from *node
		var move *seat
		for _, d := range nodes {
			if d == n || (from != nil && load[d] <= load[from]) {
				continue
			}
			var pick *seat
			for _, st := range d.seats() {
				if st.shard.id == metaShardID || st.shard.seatOn(n) != nil {
					continue
				}
				if pick == nil || pick.replica().leading() {
					pick = st
				}
			}
			if pick != nil {
				from, move = d, pick
			}
		}
		if from == nil || load[from] <= load[n]+1 {
			return nil
		}
		if err := c.moveReplica(ctx, move, n); err != nil {
			return err
		}
	}
}

// moveReplica moves the replica in seat st to node to.
func (c *Cluster) moveReplica(ctx context.Context, st *seat, to *node) error {
	sh := st.shard
	if _, err := c.addReplica(ctx, sh, to); err != nil {
		return err
	}
	if err := c.removeReplica(ctx, st); err != nil {
		return err
	}
	return c.recordPlacement(ctx, sh)
}

// addReplica adds a replica of sh on n: a nonvoter first, promoted to voter
// once it has caught up.
func (c *Cluster) addReplica(ctx context.Context, sh *shard, n *node) (*seat, error) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	st, err := newSeat(sh, n, c.nw, c.raftConfig(), c.logger)
	if err == nil {
		st.nonvoter.Store(true) // from the start: others see the seat at once
		sh.addSeat(st)
		n.addSeat(st)
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c.syncNetwork() // the other nodes learn where it listens
	id := n.id
	err = c.addAsVoter(ctx, sh, st, id, "add replica", "promote replica")
	if err != nil {
		// Best effort: take the replica out again, so that it holds no
		// place in the group's quorums.
		cctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
		defer cancel()
		_ = c.onLeader(cctx, sh, "undo add replica", func(rep *replica, timeout time.Duration) error {
			return rep.changeConfig("remove", id, "", timeout)
		})
		return nil, errors.Join(fmt.Errorf("core: add a replica of shard %d on %s: %w", sh.id, n.id, err), c.dropSeat(st))
	}
	return st, nil
}

// addAsVoter adds st's replica, on node id, to sh's group as a nonvoter,
// waits until it has caught up with the commit index at that moment, then
// promotes it to voter: a member that counts in quorums only once it holds
// what they committed. addOp and promoteOp name the two changes in errors.
func (c *Cluster) addAsVoter(ctx context.Context, sh *shard, st *seat, id, addOp, promoteOp string) error {
	st.nonvoter.Store(true) // its callers may have set it already
	var target uint64
	err := c.onLeader(ctx, sh, addOp, func(rep *replica, timeout time.Duration) error {
		if err := rep.changeConfig("add-nonvoter", id, st.addr, timeout); err != nil {
			return err
		}
		target = rep.commitIndex()
		return nil
	})
	if err == nil {
		err = c.waitCaughtUp(ctx, st, target)
	}
	if err == nil {
		err = c.onLeader(ctx, sh, promoteOp, func(rep *replica, timeout time.Duration) error {
			return rep.changeConfig("add-voter", id, st.addr, timeout)
		})
	}
	if err == nil {
		st.nonvoter.Store(false)
	}
	return err
}

// waitCaughtUp waits until st's replica has applied index target.
func (c *Cluster) waitCaughtUp(ctx context.Context, st *seat, target uint64) error {
	rt := c.newRetry(ctx, "catch up")
	defer rt.stop()
	for st.replica().appliedIndex() < target {
		if _, err := rt.begin(); err != nil {
			return err
		}
		t := time.NewTimer(catchUpPoll)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return ErrClosed
		}
	}
	return nil
}

// removeReplica takes the replica in st out of its group, moving the
// leadership away first if it leads, then stops it and drops the seat.
func (c *Cluster) removeReplica(ctx context.Context, st *seat) error {
	sh := st.shard
	if len(sh.seats()) > 1 {
		rt := c.newRetry(ctx, "remove replica")
		defer rt.stop()
		for {
			rep, err := c.waitLeader(ctx, sh, "remove replica")
			if err != nil {
				return err
			}
			if rep.seat != st {
				break
			}
			to := transferTarget(sh, st)
			if to == nil {
				return fmt.Errorf("core: remove replica of shard %d on %s: %w", sh.id, st.node.id, ErrNoLeader)
			}
			sh.markLost(time.Now())
			if err := rep.transferTo(to.node.id, to.addr); err != nil {
				// The leader stays: try again, maybe towards another, rather
				// than wait out the call for a successor that is not coming.
				sh.clearLost(rep)
				c.logger.Info("leadership transfer failed", "shard", sh.id, "to", to.node.id, "error", err)
				rt.last = fmt.Errorf("leadership transfer to %s: %w", to.node.id, err)
				if err := rt.pause(); err != nil {
					return err
				}
				if _, err := rt.begin(); err != nil {
					return err // names the last transfer's error
				}
				continue
			}
			if _, err := c.waitLeaderOtherThan(ctx, sh, rep, "remove replica"); err != nil {
				return err
			}
		}
		err := c.onLeader(ctx, sh, "remove replica", func(rep *replica, timeout time.Duration) error {
			return rep.changeConfig("remove", st.node.id, "", timeout)
		})
		if err != nil {
			return fmt.Errorf("core: remove the replica of shard %d on %s: %w", sh.id, st.node.id, err)
		}
	}
	return c.dropSeat(st)
}

// transferTarget is where the leadership of st's shard goes before st's
// replica leaves: the voter, other than st, on a node that is up, whose
// replica has applied the most, so that raft's transfer need not wait for
// it to catch up. A nonvoter still catching up (an AddNode under way)
// cannot take it: raft sends it the handover and nobody is elected. Nil
// when there is none.
func transferTarget(sh *shard, st *seat) *seat {
	var to *seat
	var best uint64
	for _, o := range sh.seats() {
		if o == st || o.nonvoter.Load() || !o.node.up.Load() || o.replica().stopped.Load() {
			continue
		}
		if a := o.replica().appliedIndex(); to == nil || a > best {
			to, best = o, a
		}
	}
	return to
}

// dropSeat stops st's replica and forgets the seat.
func (c *Cluster) dropSeat(st *seat) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if rep := st.replica(); rep.remote != nil && rep.stopped.CompareAndSwap(false, true) {
		err = rep.stopRemote(true)
	} else {
		err = rep.stop()
	}
	st.shard.dropSeat(st)
	st.node.dropSeat(st)
	st.shard.forget(st.replica())
	// A dropped replica's log and snapshots are never read again.
	if rerr := st.removeStorage(); err == nil {
		err = rerr
	}
	return err
}

// RemoveNode drains a node and stops it: each of its replicas is first
// replaced by one on the least loaded node that lacks that shard (while the
// cluster keeps enough nodes for min(3, nodes) replicas), then removed from
// its group. Leaderships are rebalanced afterwards. A crashed node can be
// removed as long as its shards keep a quorum.
//
// It fails with ErrUnknownNode for an id that names no node and
// ErrLastNode for the cluster's only node. Deadlines are as for AddNode; on
// error the node stays in the cluster, with the replicas not yet drained.
func (c *Cluster) RemoveNode(ctx context.Context, id string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.memberMu.Lock()
	defer c.memberMu.Unlock()
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.topo.RLock()
	var rest []*node
	for _, o := range c.nodes {
		if o != n {
			rest = append(rest, o)
		}
	}
	c.topo.RUnlock()
	if len(rest) == 0 {
		return fmt.Errorf("%w: %s", ErrLastNode, id)
	}
	rf := min(replicationFactor, len(rest))
	for _, st := range n.seats() {
		sh := st.shard
		if len(sh.seats())-1 < rf {
			to := leastLoaded(rest, sh)
			if to == nil {
				return fmt.Errorf("core: remove node %s: no node to take shard %d", id, sh.id)
			}
			if _, err := c.addReplica(ctx, sh, to); err != nil {
				return fmt.Errorf("core: remove node %s: %w", id, err)
			}
		}
		if err := c.removeReplica(ctx, st); err != nil {
			return fmt.Errorf("core: remove node %s: %w", id, err)
		}
		if err := c.recordPlacement(ctx, sh); err != nil {
			return fmt.Errorf("core: remove node %s: %w", id, err)
		}
	}
	if err := c.leaveNode(n); err != nil {
		return err
	}
	if err := c.metaPut(ctx, metaNodeKey(id), metaNode{State: stateRemoved}); err != nil {
		return fmt.Errorf("core: remove node %s: %w", id, err)
	}
	c.assignLeaders()
	return c.balanceLeaders(ctx)
}

// leastLoaded returns the node of nodes hosting the fewest shard replicas
// among those without a replica of sh, preferring nodes that are up; nil
// when all have one.
func leastLoaded(nodes []*node, sh *shard) *node {
	load := shardLoad(nodes)
	var best *node
	for _, n := range nodes {
		if sh.seatOn(n) != nil {
			continue
		}
		if best == nil ||
			(n.up.Load() && !best.up.Load()) ||
			(n.up.Load() == best.up.Load() && load[n] < load[best]) {
			best = n
		}
	}
	return best
}

// leaveNode stops a drained node and frees its network slot.
func (c *Cluster) leaveNode(n *node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	err := n.stop() // nothing is left on it unless a drain was skipped
	if n.remote {
		err = errors.Join(err, c.detach(n), c.cfg.Launcher.Release(n.id))
	}
	close(n.quit)
	c.topo.Lock()
	c.nodes = slices.DeleteFunc(c.nodes, func(o *node) bool { return o == n })
	delete(c.byID, n.id)
	c.topo.Unlock()
	c.freeSlots = append(c.freeSlots, n.index)
	return err
}

// assignLeaders picks each shard's preferred leader (its first seat), which
// balanceLeaders then moves leaderships to: greedily, the replica whose node
// has been picked least so far, keeping the current leader on ties so that
// as few leaderships move as possible.
func (c *Cluster) assignLeaders() {
	c.mu.Lock()
	defer c.mu.Unlock()
	picked := make(map[*node]int)
	for _, sh := range c.shards {
		var cur *seat
		if rep, err := sh.leaderReplica(); err == nil {
			cur = rep.seat
		}
		var best *seat
		for _, st := range sh.seats() {
			if !st.node.up.Load() {
				continue
			}
			if best == nil || picked[st.node] < picked[best.node] ||
				(picked[st.node] == picked[best.node] && st == cur) {
				best = st
			}
		}
		if best != nil {
			picked[best.node]++
			sh.preferSeat(best)
		}
	}
}

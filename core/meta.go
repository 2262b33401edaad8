package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// The meta group is the cluster's source of truth, as a placement driver
// is: one Raft group of up to three voters (on the first nodes at start;
// membership changes keep it at min(3, nodes)) whose state machine holds
//
//	node/<id>      {"addr": ..., "state": "up" | "suspect" | "down" | "removed"}
//	shard/<id>     ["n1", "n2", "n3"], the nodes hosting the shard's replicas
//	shard/meta     the same for the meta group itself
//
// It reuses the shards' machinery (seats, replicas, the key-value state
// machine, crash and restart), so a node's meta replica crashes, restarts
// and is partitioned with the rest of the node.
//
// Heartbeats are cheap by design: a heartbeat refreshes the meta leader's
// in-memory record of when it last heard from the node (detector.beat), and
// only a change of state — up, suspect, down — goes through the meta log.
// Twenty nodes at 100 ms are 200 map writes a second, and the log sees an
// entry only when a node's health changes. The record is the leader's own:
// a new meta leader starts every node's clock afresh, so a leader change
// delays, and never hastens, marking a node down.
//
// The hop from a node to the meta leader is in-process, so Heartbeat models
// the network on it: a partition between the two fails the heartbeat, and a
// shaped link costs its delay both ways.

// metaShardID is the meta group's shard id, in log names and errors.
const metaShardID = -1

// Node states, as NodeStatus.State reports them.
const (
	StateUp      = "up"
	StateSuspect = "suspect"
	StateDown    = "down"
	// stateJoining is reported for a node the meta group has no record of
	// yet, stateRemoved is recorded for a node RemoveNode took out.
	stateJoining = "joining"
	stateRemoved = "removed"
)

// metaNode is a node's record in the meta group.
type metaNode struct {
	Addr  string `json:"addr"`
	State string `json:"state"`
}

func metaNodeKey(id string) string { return "node/" + id }

func placementKey(sh *shard) string {
	if sh.id == metaShardID {
		return "shard/meta"
	}
	return "shard/" + strconv.Itoa(sh.id)
}

// metaPut writes key = JSON of v through the meta log, retrying leader
// changes until ctx ends (or, when ctx has no deadline, Config.OpTimeout).
func (c *Cluster) metaPut(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	cmd := encodePut(key, data)
	return c.onLeader(ctx, c.meta, "meta write", func(rep *replica, timeout time.Duration) error {
		return rep.apply(cmd, timeout)
	})
}

// onLeader runs f on the leader of sh, retrying across leader changes like
// Put does. f runs inside the replica's enter/exit, so stopping the replica
// waits for it.
func (c *Cluster) onLeader(ctx context.Context, sh *shard, op string, f func(rep *replica, timeout time.Duration) error) error {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			if !rep.enter() {
				err = ErrNoLeader
			} else {
				err = f(rep, timeout)
				rep.exit()
				if err == nil {
					return nil
				}
			}
		}
		sh.forget(rep)
		if err := rt.after(err); err != nil {
			return err
		}
	}
}

// recordPlacement writes where sh's replicas are to the meta group.
func (c *Cluster) recordPlacement(ctx context.Context, sh *shard) error {
	var ids []string
	for _, st := range sh.seats() {
		ids = append(ids, st.node.id)
	}
	return c.metaPut(ctx, placementKey(sh), ids)
}

// initMeta records the starting membership and placement. The writes go in
// parallel, so raft batches them.
func (c *Cluster) initMeta(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(c.nodes)+len(c.shards)+1)
	for _, n := range c.nodes {
		wg.Go(func() { errs <- c.metaPut(ctx, metaNodeKey(n.id), metaNode{Addr: n.addr(), State: StateUp}) })
	}
	for _, sh := range append([]*shard{c.meta}, c.shards...) {
		wg.Go(func() { errs <- c.recordPlacement(ctx, sh) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("core: record membership in the meta group: %w", err)
		}
	}
	return nil
}

// metaReader returns the replica to read the meta group from: the
// leader when there is one, else the first running replica, which may be
// stale, and whether it leads. Nil when every meta replica is stopped.
func (c *Cluster) metaReader() (*replica, bool) {
	if rep, err := c.meta.leaderReplica(); err == nil {
		return rep, true
	}
	for _, st := range c.meta.seats() {
		if rep := st.replica(); !rep.stopped.Load() {
			return rep, false
		}
	}
	return nil, false
}

func readMetaNode(rep *replica, id string) (metaNode, bool) {
	var m metaNode
	if rep == nil {
		return m, false
	}
	v, ok := rep.localGet(metaNodeKey(id))
	if !ok || json.Unmarshal(v, &m) != nil {
		return m, false
	}
	return m, true
}

// detector is the failure detector that runs on the meta leader: the time
// each node's last heartbeat arrived, as the current leader saw it.
type detector struct {
	c  *Cluster
	mu sync.Mutex
	// leader is the meta replica the record belongs to, since when it has
	// kept it. A node without a heartbeat since is as old as the record.
	leader *replica
	since  time.Time
	seen   map[string]time.Time
}

func newDetector(c *Cluster) *detector {
	return &detector{c: c, seen: make(map[string]time.Time)}
}

// adoptLocked starts a fresh record when leader is not the one keeping it.
func (d *detector) adoptLocked(leader *replica, now time.Time) {
	if d.leader != leader {
		d.leader, d.since = leader, now
		clear(d.seen)
	}
}

// beat records a heartbeat from node id that reached leader at now.
func (d *detector) beat(leader *replica, id string, now time.Time) {
	d.mu.Lock()
	d.adoptLocked(leader, now)
	d.seen[id] = now
	d.mu.Unlock()
}

// touch starts a joining node's clock, so that it is not suspected before
// its first heartbeat is due.
func (d *detector) touch(id string, now time.Time) {
	d.mu.Lock()
	d.seen[id] = now
	d.mu.Unlock()
}

// age is how long ago node id's last heartbeat arrived, as of now; zero
// while no meta leader keeps a record.
func (d *detector) age(id string, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.leader == nil {
		return 0
	}
	last, ok := d.seen[id]
	if !ok || last.Before(d.since) {
		last = d.since
	}
	return now.Sub(last)
}

// stateFor is the state a heartbeat age calls for.
func (c *Cluster) stateFor(age time.Duration) string {
	switch {
	case age >= c.cfg.DownAfter:
		return StateDown
	case age >= c.cfg.SuspectAfter:
		return StateSuspect
	default:
		return StateUp
	}
}

// detectorTick is how often the failure detector checks heartbeat ages: a
// node is marked down at most one tick after DownAfter.
func (c *Cluster) detectorTick() time.Duration {
	return max(c.cfg.HeartbeatInterval/2, time.Millisecond)
}

// startHealth starts every node's heartbeat loop and the failure detector.
func (c *Cluster) startHealth() {
	for _, n := range c.nodes {
		c.startHeartbeats(n)
	}
	c.bg.Go(c.detect)
}

func (c *Cluster) startHeartbeats(n *node) {
	c.bg.Go(func() { c.heartbeatLoop(n) })
}

// heartbeatLoop sends node n's heartbeats while n is up, until the cluster
// closes or n leaves it.
func (c *Cluster) heartbeatLoop(n *node) {
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-n.quit:
			return
		case <-t.C:
		}
		if !n.up.Load() {
			continue // a crashed node sends nothing
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.HeartbeatInterval)
		_ = c.Heartbeat(ctx, n.id)
		cancel()
	}
}

// Heartbeat sends one heartbeat from node to the meta group's leader and
// returns once the leader has recorded it: the round the node's own loop
// runs every Config.HeartbeatInterval, exposed so that it can be timed. It
// fails with ErrNodeDown for a crashed node, with ErrUnknownNode for a node
// not in the cluster, and when a partition separates the node from the meta
// leader. It waits for a meta leader until ctx ends (or, without a deadline,
// Config.OpTimeout).
func (c *Cluster) Heartbeat(ctx context.Context, id string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if !n.up.Load() {
		return fmt.Errorf("core: heartbeat from %s: %w", id, ErrNodeDown)
	}
	leader, err := c.waitLeader(ctx, c.meta, "heartbeat")
	if err != nil {
		return err
	}
	to := leader.node.index
	if !c.nw.Reachable(n.index, to) {
		return fmt.Errorf("core: heartbeat from %s to meta leader %s: %w", id, leader.node.id, errPartitioned)
	}
	if n.remote {
		// A heartbeat is a message: a round trip to the node's process.
		if err := c.pingNode(ctx, n); err != nil {
			return fmt.Errorf("core: heartbeat from %s: %w", id, err)
		}
	} else if rtt := c.nw.Link(n.index, to).Delay + c.nw.Link(to, n.index).Delay; rtt > 0 && n.index != to {
		t := time.NewTimer(rtt)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.done:
			t.Stop()
			return ErrClosed
		}
	}
	c.det.beat(leader, id, time.Now())
	return nil
}

// detect is the failure detector's loop. On each tick it compares every
// node's heartbeat age with the state the meta leader's state machine
// records, and writes the changes through the meta log. It acts only on
// the current meta leader, whose record it reads.
func (c *Cluster) detect() {
	t := time.NewTicker(c.detectorTick())
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		leader, err := c.meta.leaderReplica()
		if err != nil {
			continue
		}
		now := time.Now()
		c.det.mu.Lock()
		c.det.adoptLocked(leader, now)
		c.det.mu.Unlock()
		c.topo.RLock()
		nodes := append([]*node(nil), c.nodes...)
		c.topo.RUnlock()
		for _, n := range nodes {
			rec, ok := readMetaNode(leader, n.id)
			if !ok || rec.State == stateRemoved {
				continue // not registered yet, or on its way out
			}
			want := c.stateFor(c.det.age(n.id, now))
			if rec.State == want {
				continue
			}
			rec.State = want
			data, _ := json.Marshal(rec)
			if err := leader.apply(encodePut(metaNodeKey(n.id), data), c.cfg.OpTimeout); err != nil {
				break // leadership moved; the next tick acts on the new leader
			}
			c.logger.Info("node state changed", "node", n.id, "state", want)
		}
	}
}

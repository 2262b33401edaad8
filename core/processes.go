package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The controller's side of a cluster whose nodes run in processes of their
// own (Config.Launcher; remote.go describes the seam).

// statusPoll is how often the controller asks each node for its replicas'
// state: what Status shows, and a check on the leader hints the nodes'
// leader changes keep.
const statusPoll = 100 * time.Millisecond

// nodeLine is the controller's line to a node process while it runs.
type nodeLine struct {
	conn   NodeConn
	cancel context.CancelFunc // ends the watch and the status poll
	done   chan struct{}      // closed once both have returned
}

func (c *Cluster) remoteMode() bool { return c.cfg.Launcher != nil }

// line returns n's line, nil for a node in this process or one that is
// down.
func (n *node) line() *nodeLine { return n.lineP.Load() }

// launchNodes starts the nodes of a new cluster, in parallel.
func (c *Cluster) launchNodes(ctx context.Context) error {
	if w, ok := c.cfg.Launcher.(ExitWatcher); ok {
		w.OnExit(func(e NodeExit, conn NodeConn) { go c.nodeExited(e, conn) })
	}
	errs := make([]error, len(c.nodes))
	conns := make([]NodeConn, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { conns[i], errs[i] = c.cfg.Launcher.Start(ctx, n.id, n.index) })
	}
	wg.Wait()
	for i, n := range c.nodes {
		if errs[i] == nil {
			c.attach(n, conns[i])
		}
	}
	return errors.Join(errs...)
}

// attach makes conn n's line and starts watching the node's leader changes
// and polling its status.
func (c *Cluster) attach(n *node, conn NodeConn) {
	ctx, cancel := context.WithCancel(context.Background())
	l := &nodeLine{conn: conn, cancel: cancel, done: make(chan struct{})}
	n.lineP.Store(l)
	var wg sync.WaitGroup
	wg.Go(func() { c.watchNode(ctx, n, conn) })
	wg.Go(func() { c.pollNode(ctx, n, conn) })
	c.bg.Go(func() {
		wg.Wait()
		close(l.done)
	})
}

// detach ends n's line and waits for its watch and poll.
func (c *Cluster) detach(n *node) error {
	l := n.lineP.Swap(nil)
	if l == nil {
		return nil
	}
	l.cancel()
	<-l.done
	return l.conn.Close()
}

// watchNode hands the leader changes n's replicas see to their shards, as a
// replica in this process does through its raft observer.
func (c *Cluster) watchNode(ctx context.Context, n *node, conn NodeConn) {
	for ctx.Err() == nil {
		err := conn.Watch(ctx, func(shard int, leader string, term uint64) {
			st := n.seatOf(shard)
			if st == nil {
				return
			}
			rep := st.replica()
			if rep == nil || rep.remote == nil || rep.stopped.Load() {
				return
			}
			if term > 0 {
				rep.remote.term.Store(term)
			}
			rep.remote.leader.Store(leader == n.id)
			st.shard.observeLeader(rep, leader, term)
		})
		if ctx.Err() != nil {
			return
		}
		// The line broke: the node's replicas lead nothing we can reach.
		for _, st := range n.seats() {
			if rep := st.replica(); rep != nil && rep.remote != nil {
				rep.remote.leader.Store(false)
			}
		}
		c.logger.Info("lost the watch of a node", "node", n.id, "error", err)
		t := time.NewTimer(statusPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pollNode keeps n's replicas' status fresh. A poll also corrects a leader
// hint a lost watch left wrong: a report in the replica's latest term wins.
func (c *Cluster) pollNode(ctx context.Context, n *node, conn NodeConn) {
	t := time.NewTicker(statusPoll)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, statusPoll*5)
		b, err := conn.Status(pctx)
		cancel()
		if err == nil {
			var ns nodeStatusWire
			if json.Unmarshal(b, &ns) == nil {
				for _, rs := range ns.Replicas {
					st := n.seatOf(rs.Shard)
					if st == nil {
						continue
					}
					rep := st.replica()
					if rep == nil || rep.remote == nil {
						continue
					}
					rep.remote.status.Store(&rs)
					if rs.Term >= rep.remote.term.Load() {
						rep.remote.term.Store(rs.Term)
						rep.remote.leader.Store(rs.Leader)
					}
				}
			}
		} else if ctx.Err() == nil {
			for _, st := range n.seats() {
				if rep := st.replica(); rep != nil && rep.remote != nil {
					rep.remote.leader.Store(false)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newRemoteSeat makes a seat of shard s on n's node process, with empty
// stores, and starts its replica there.
func newRemoteSeat(s *shard, n *node, cfg Config) (*seat, error) {
	l := n.line()
	if l == nil {
		return nil, fmt.Errorf("core: start shard %d on %s: %w", s.id, n.id, ErrNodeDown)
	}
	spec := encodeReplicaSpec(replicaSpec{Shard: s.id, Node: n.id, Slot: n.index, Config: cfg})
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	addr, err := l.conn.StartReplica(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("core: start shard %d on %s: %w", s.id, n.id, err)
	}
	st := &seat{shard: s, node: n, addr: raft.ServerAddress(addr)}
	newRemoteReplica(st, l.conn)
	return st, nil
}

// restartRemoteSeat starts st's replica again on its node, on its old
// address, over what its node kept of its stores.
func (c *Cluster) restartRemoteSeat(st *seat) error {
	l := st.node.line()
	if l == nil {
		return fmt.Errorf("core: restart shard %d on %s: %w", st.shard.id, st.node.id, ErrNodeDown)
	}
	spec := encodeReplicaSpec(replicaSpec{Shard: st.shard.id, Node: st.node.id, Slot: st.node.index,
		Config: c.raftConfig(), Restart: true, Addr: string(st.addr)})
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	if _, err := l.conn.StartReplica(ctx, spec); err != nil {
		return fmt.Errorf("core: restart shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	newRemoteReplica(st, l.conn)
	return nil
}

// syncNetwork tells every running node the network as the controller
// models it: where every replica listens, each link's shaping, and who is
// partitioned off. Nodes apply it to their stream layers. It does nothing
// for a cluster in this process.
func (c *Cluster) syncNetwork() {
	if !c.remoteMode() {
		return
	}
	c.topo.RLock()
	nodes := append([]*node(nil), c.nodes...)
	c.topo.RUnlock()
	peers := make(map[string]int)
	for _, n := range nodes {
		for _, st := range n.seats() {
			peers[string(st.addr)] = n.index
		}
	}
	cut := c.nw.Partitioned()
	ops := []netOp{{Op: "peers", Peers: peers}, {Op: "heal"}}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				ops = append(ops, netOp{Op: "link", Slot: a.index, To: b.index, Link: roundTrip(c.nw.Link(a.index, b.index), c.nw.Link(b.index, a.index))})
			}
		}
	}
	for _, n := range nodes {
		if n.index < len(cut) && cut[n.index] {
			ops = append(ops, netOp{Op: "isolate", Slot: n.index})
		}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		l := n.line()
		if l == nil || !n.up.Load() {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
			defer cancel()
			for _, op := range ops {
				b, _ := json.Marshal(op)
				if err := l.conn.Network(ctx, b); err != nil {
					c.logger.Warn("cannot change a node's network", "node", n.id, "op", op.Op, "error", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// crashRemote kills n's process. c.mu must be held.
func (c *Cluster) crashRemote(n *node) error {
	return c.takeDown(n, func() error { return c.cfg.Launcher.Kill(n.id) })
}

// takeDown marks n down, has kill (if any) end its process, and lets go
// of its line and replicas: a crash, or its process's exit on its own.
// c.mu must be held.
func (c *Cluster) takeDown(n *node, kill func() error) error {
	c.markLeadersLost(n)
	// Down first, so that stopping its replicas asks nothing of it.
	n.up.Store(false)
	var err error
	if kill != nil {
		err = kill()
	}
	_ = c.detach(n)
	return errors.Join(err, n.stop())
}

// nodeExited handles a node process that exited on its own (ExitWatcher):
// the node is crashed as CrashNode would, without the kill. An exit of a
// process the node no longer runs on (conn is not its line), of a node
// already down (a crash of the cluster's own that raced it), or of a
// closing cluster changes nothing.
func (c *Cluster) nodeExited(e NodeExit, conn NodeConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	n, err := c.node(e.ID)
	if err != nil {
		return
	}
	l := n.line()
	if !n.up.Load() || l == nil || l.conn != conn {
		return
	}
	c.logger.Warn("node process exited on its own", "node", n.id, "pid", e.PID, "reason", e.Reason, "log", e.Log)
	_ = c.takeDown(n, nil)
}

// restartRemote starts n's process again and its replicas on it. c.mu must
// be held.
func (c *Cluster) restartRemote(ctx context.Context, n *node) error {
	conn, err := c.cfg.Launcher.Restart(ctx, n.id)
	if err != nil {
		return fmt.Errorf("core: restart node %s: %w", n.id, err)
	}
	c.attach(n, conn)
	n.up.Store(true)
	c.syncNetwork() // the new process learns its peers and the links
	var errs []error
	for _, st := range n.seats() {
		if st.shard.seatOn(n) != st {
			continue
		}
		if !c.cfg.onDisk() && len(st.shard.seats()) > 1 && c.quorumWithout(st.shard, st) {
			errs = append(errs, c.rejoinSeat(ctx, st))
		} else {
			errs = append(errs, c.restartRemoteSeat(st))
		}
	}
	return errors.Join(errs...)
}

// rejoinSeat brings back st's replica on a node process that restarted
// with empty memory storage. A replica that has forgotten its log, term
// and vote must not count in its group's quorums as if it remembered them:
// it could vote a leader in that lacks entries the group committed with
// it. So it leaves the group first, comes back empty and outside it, and
// rejoins as a new member would — a nonvoter until it has caught up, then
// a voter. The caller checked that the group's other live replicas form a
// quorum; without one the replica comes back as it is, as in one process.
func (c *Cluster) rejoinSeat(ctx context.Context, st *seat) error {
	sh, id := st.shard, st.node.id
	// Out of the group, then a nonvoter until promoted: no leadership is
	// handed to it meanwhile (transferTarget).
	st.nonvoter.Store(true)
	err := c.onLeader(ctx, sh, "rejoin: remove", func(rep *replica, timeout time.Duration) error {
		return rep.changeConfig("remove", id, "", timeout)
	})
	if err != nil {
		return fmt.Errorf("core: rejoin shard %d on %s: %w", sh.id, id, err)
	}
	if err := c.restartRemoteSeat(st); err != nil {
		return err
	}
	if err := c.addAsVoter(ctx, sh, st, id, "rejoin: add", "rejoin: promote"); err != nil {
		return fmt.Errorf("core: rejoin shard %d on %s: %w", sh.id, id, err)
	}
	return nil
}

// pingNode is a heartbeat's round trip to n's process.
func (c *Cluster) pingNode(ctx context.Context, n *node) error {
	l := n.line()
	if l == nil {
		return fmt.Errorf("core: heartbeat from %s: %w", n.id, ErrNodeDown)
	}
	return l.conn.Ping(ctx)
}

// closeRemote lets go of every node's line and stops the node processes.
func (c *Cluster) closeRemote() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, c.detach(n))
	}
	return errors.Join(append(errs, c.cfg.Launcher.Close())...)
}

// roundTrip is the shaping a node process gives the connections it dials
// from a to b, whose links are ab and ba. A process can tell which node a
// connection goes to only for those it dialled (the far end's address is
// one it was told), not for those it accepted, so the dialling side
// carries both directions: a request waits out both delays, its answer
// none, and a round trip costs what it would in one process. (Every Raft
// RPC is a request and its answer on a connection its sender dialled.)
func roundTrip(ab, ba Link) Link {
	if ab == (Link{}) && ba == (Link{}) {
		return Link{}
	}
	return Link{Delay: ab.Delay + ba.Delay, Jitter: ab.Jitter + ba.Jitter, Loss: 1 - (1-ab.Loss)*(1-ba.Loss)}
}

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
//
// It never waits and core never refuses it, even when it costs a shard its
// quorum: that is the caller's experiment. A KillLeader in flight on a
// shard the crash leaves short of a quorum restarts its replica at once
// (see ErrWouldLoseQuorum), so the crash costs no more than it would alone.
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
	if n.remote {
		return c.crashRemote(n)
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
	if n.remote {
		return c.restartRemote(ctx, n)
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
	if st.node.remote {
		return c.restartRemoteSeat(st)
	}
	stream, err := netsim.Listen(string(st.addr), c.nw, st.node.index)
	if err != nil {
		return fmt.Errorf("core: restart shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	if _, err := startReplica(st, stream, c.raftConfig(), c.logger); err != nil {
		_ = stream.Close()
		return err
	}
	return nil
}

// ErrWouldLoseQuorum is returned, wrapped with the shard's number, by a
// fault that core refuses because it would leave the shard without a
// quorum of live replicas: KillLeader of a shard whose other replicas,
// running on nodes that are up and not partitioned off, are too few to
// elect a successor. A shard of two replicas is always refused, since one
// cannot elect another. It is also what KillLeader returns when the other
// replicas lose their quorum (a crash or a partition) while it waits for
// the successor: it restarts the killed replica at once rather than wait
// for a leader that cannot be elected.
var ErrWouldLoseQuorum = errors.New("core: refused: the shard would be left without a quorum of live replicas")

// The fault controls and what each guarantees about a shard's quorum.
//
// KillLeader and TransferLeader of one shard take turns: each holds the
// shard's fault slot (shard.fault) from before it looks up the leader
// until the killed replica has been restarted. A second one waits for the
// first, bounded by its ctx (or Config.OpTimeout without a deadline); a
// kill waited for then acts on the shard as the first left it, with its
// new leader and all of its replicas running. Waiting rather than refusing
// keeps what was asked: the consensus suite's election probe and a
// scripted kill that meet both get the kill they asked for, one after the
// other, and a refusal would only make the caller retry.
//
// KillLeader refuses (ErrWouldLoseQuorum) a kill that would leave too few
// live replicas to elect a successor, so no fault core carries out on its
// own initiative leaves a shard below quorum: the killed replica is down
// only while the rest still form one.
//
// CrashNode and Partition are the user's experiments and core does not
// refuse them: a crash or partition that costs a quorum is what a user asks
// for to see a cluster without one (suites' runner refuses the crashes that
// would). Combined with a kill in flight they cost no more than they would
// alone: a kill whose shard loses its quorum while it waits restarts its
// replica at once, so the shard is left with the replicas the crash or
// partition left it, and elects a leader if they form a quorum.

// acquireFault takes sh's fault slot, waiting for the fault holding it
// until ctx ends, or Config.OpTimeout when ctx has no deadline. The caller
// must releaseFault.
func (c *Cluster) acquireFault(ctx context.Context, sh *shard, op string) error {
	select {
	case sh.fault <- struct{}{}:
		return nil
	default:
	}
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(c.cfg.OpTimeout)
		defer t.Stop()
		timeout = t.C
	}
	wait := func(err error) error {
		return fmt.Errorf("core: %s of shard %d: waiting for the fault in progress on the shard: %w", op, sh.id, err)
	}
	select {
	case sh.fault <- struct{}{}:
		return nil
	case <-ctx.Done():
		return wait(ctx.Err())
	case <-timeout:
		return wait(context.DeadlineExceeded)
	case <-c.done:
		return ErrClosed
	}
}

func releaseFault(sh *shard) { <-sh.fault }

// liveReplica reports whether st's replica can take part in an election: it
// runs, on a node that is up and not partitioned off.
func (c *Cluster) liveReplica(st *seat) bool {
	return !st.replica().stopped.Load() && st.node.up.Load() && !c.nw.Isolated(st.node.index)
}

// quorumWithout reports whether sh's replicas other than the one in seat
// out, those live, form a quorum of the shard's voters.
func (c *Cluster) quorumWithout(sh *shard, out *seat) bool {
	seats := sh.seats()
	live := 0
	for _, st := range seats {
		if st != out && c.liveReplica(st) {
			live++
		}
	}
	return live >= len(seats)/2+1
}

// KillLeader crashes the replica leading shard — that replica only, not the
// rest of its node — and returns the id of the node that hosted it. Once the
// shard has elected another leader, the killed replica restarts over its
// stores and rejoins as a follower, so the shard keeps its replication
// factor. It returns when the new leader is up, or with an error when ctx
// (or, without a deadline, Config.OpTimeout) ends first. A shard with a
// single replica cannot elect another; its replica restarts at once.
//
// Kills of one shard take turns: a kill waits, within the same deadline,
// for one in progress to finish. A kill that would leave the shard's other
// live replicas short of a quorum is refused with ErrWouldLoseQuorum, and
// so is one whose shard loses that quorum while it waits for the
// successor, after its replica has been restarted. See ErrWouldLoseQuorum.
func (c *Cluster) KillLeader(ctx context.Context, shard int) (string, error) {
	sh, err := c.shard(shard)
	if err != nil {
		return "", err
	}
	if err := c.acquireFault(ctx, sh, "kill leader"); err != nil {
		return "", err
	}
	defer releaseFault(sh)
	rep, err := c.waitLeader(ctx, sh, "kill leader")
	if err != nil {
		return "", err
	}
	single := len(sh.seats()) == 1
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return "", ErrClosed
	}
	if !single && !c.quorumWithout(sh, rep.seat) {
		c.mu.Unlock()
		return "", fmt.Errorf("core: kill leader of shard %d on %s: %w", shard, rep.node.id, ErrWouldLoseQuorum)
	}
	sh.markLost(time.Now())
	err = rep.stop()
	c.mu.Unlock()
	if err != nil {
		return rep.node.id, err
	}
	if f := hooks.onKill; f != nil {
		f(shard, rep.node.id)
	}

	var waitErr error
	if !single {
		waitErr = c.waitSuccessor(ctx, sh, rep)
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

// waitSuccessor waits for a leader of sh other than the killed replica old.
// It gives up with ErrWouldLoseQuorum as soon as the other replicas no
// longer form a quorum, since none of them can then be elected until old
// is back.
func (c *Cluster) waitSuccessor(ctx context.Context, sh *shard, old *replica) error {
	rt := c.newRetry(ctx, "kill leader")
	defer rt.stop()
	for {
		if _, err := rt.begin(); err != nil {
			return err
		}
		// The successor counts once its election is recorded, not as soon
		// as its raft state says leader: raft sets the state before it
		// reports the new leader to the observers, and a caller reading
		// Elections right after the kill must find the election there.
		rep, err := sh.leaderReplica()
		if err == nil && rep != old && sh.leader.Load() == rep {
			return nil
		}
		if !c.quorumWithout(sh, old.seat) {
			return fmt.Errorf("core: kill leader of shard %d on %s: the other replicas lost their quorum while it waited for a successor; the killed replica was restarted: %w",
				sh.id, old.node.id, ErrWouldLoseQuorum)
		}
		if err := rt.after(ErrNoLeader); err != nil {
			return err
		}
	}
}

// TransferLeader moves the leadership of shard to another of its replicas,
// the one raft finds most up to date, and returns once it has moved. It
// takes its turn with KillLeader of the same shard, as another kill would.
func (c *Cluster) TransferLeader(ctx context.Context, shard int) error {
	sh, err := c.shard(shard)
	if err != nil {
		return err
	}
	if err := c.acquireFault(ctx, sh, "transfer leader"); err != nil {
		return err
	}
	defer releaseFault(sh)
	rep, err := c.waitLeader(ctx, sh, "transfer leader")
	if err != nil {
		return err
	}
	if !rep.enter() {
		return fmt.Errorf("core: transfer leader of shard %d: %w", shard, ErrNoLeader)
	}
	sh.markLost(time.Now())
	err = rep.transferTo("", "")
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
// to connections already open too. Raft's timeouts follow: they grow before
// the shaping applies when it lengthens the worst round trip, and shrink
// back shortly after when it shortens it (timeouts.go); Status shows them.
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
	upper := max(c.nw.MaxRoundTrip(), l.Worst()+c.nw.Link(b.index, a.index).Worst())
	c.reshape(upper, func() { c.nw.SetLink(a.index, b.index, l) })
	c.syncNetwork()
	return nil
}

// SetAllLinks gives every link between two nodes, in both directions, the
// same shaping; the zero Link removes all shaping. Nodes added later get it
// too on their links. Raft's timeouts follow, as for SetLink.
func (c *Cluster) SetAllLinks(l Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	c.reshape(2*l.Worst(), func() {
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
	})
	c.syncNetwork()
	return nil
}

// Partition cuts a node off from every other node: its connections to them
// are cut and dials either way fail until Heal. The node keeps running; the
// shards it leads elect new leaders elsewhere once its lease runs out.
//
// As with CrashNode, core never refuses it, and a KillLeader in flight on a
// shard it leaves short of a quorum restarts its replica at once.
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
	c.syncNetwork()
	return nil
}

// Heal ends every partition. Links keep their shaping.
func (c *Cluster) Heal() {
	c.nw.Heal()
	c.syncNetwork()
}

package core

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/phantomdb/phantom/core/internal/netsim"
	"github.com/phantomdb/phantom/core/internal/transport"
	"github.com/phantomdb/phantom/core/internal/wire"
)

const (
	// transportTimeout bounds one Raft RPC's I/O. Loopback answers in well
	// under a millisecond; the bound only matters for a peer that hangs.
	transportTimeout = 2 * time.Second
	// transportMaxPool is how many idle connections a transport keeps per
	// peer: enough for heartbeats, appends and votes to go at once.
	transportMaxPool = 3
	// transportMaxInFlight is how many appends a leader may have on the
	// wire to one follower once replication to it is pipelined, which
	// transport.Transport does on links with a long round trip. Writes
	// arrive faster than round trips return there, and each in-flight
	// append holds those of one dispatch, so a window of 2, raft's default,
	// makes new entries wait for a slot, about half a round trip at 8
	// clients over a 5 ms link.
	transportMaxInFlight = 8
	// handlerExitTimeout bounds how long stopping a replica waits for raft's
	// connection handlers to return after their connections are cut.
	handlerExitTimeout = 2 * time.Second
	// callDrainTimeout bounds how long stopping a replica waits for client
	// calls inside raft to return. A leader cut off from its peers answers
	// them within its lease; the bound only guards against a raft bug.
	callDrainTimeout = 5 * time.Second
)

// seat is a shard's place on a node: the replica's durable state, which
// outlives a crash, and the replica currently running over it. A crash
// stops the replica; a restart starts a new one over the same stores and
// on the same address, as a process restarting over its disk would.
type seat struct {
	shard *shard
	node  *node
	addr  raft.ServerAddress // fixed for the seat's life: peers know it from the Raft configuration

	// The stores are what a restart keeps: the Raft log, term and vote, and
	// the latest snapshot. The state machine is rebuilt from them. In memory
	// mode they are made once, with the seat; in disk mode dir is what
	// lasts, and each replica run opens the stores from it anew (storage.go).
	// They change only in openStores.
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	dir    string // the seat's data directory in disk mode, "" in memory mode

	cur atomic.Pointer[replica] // never nil once the cluster has started

	// nonvoter is set while the seat's replica is in its group as a
	// nonvoter, catching up before its promotion (addAsVoter): it counts
	// in no quorum and cannot take a leadership handed to it.
	nonvoter atomic.Bool
}

func (st *seat) replica() *replica { return st.cur.Load() }

// replica is one run of a shard's Raft instance on one node, with its state
// machine and network. Its fields are fixed once startReplica returns; a
// restart makes a new replica.
type replica struct {
	shard  int
	node   *node
	seat   *seat
	fsm    *fsm
	stream *netsim.Layer
	trans  *transport.Transport
	raft   *raft.Raft

	// observer reports this replica's leader changes to its shard; see
	// shard.observe.
	observer *raft.Observer

	// closeStores releases the stores this run opened, once raft is down.
	closeStores func() error

	logger hclog.Logger

	// stopped turns away new client calls; calls counts those inside raft,
	// see stop.
	stopped atomic.Bool
	calls   atomic.Int64

	// failover is the replica's fast-failover state, see failover.go.
	failover failover

	// confMu serialises changes to raft's configuration: fast failover's
	// nudge and the timeouts following the network (timeouts.go). raft's
	// ReloadConfig reads, changes and stores the whole configuration, so
	// two at once could undo each other.
	confMu sync.Mutex

	// readyTerm is a term in which this replica, as leader, has had an entry
	// of its own term committed and applied. Until that happens a new
	// leader's commit index may miss entries its predecessor committed, so
	// Get commits a no-op before trusting the commit index as a read index.
	readyTerm atomic.Uint64

	// times are when the leader stored and applied its recent entries,
	// for the callers' phases (phases.go).
	times entryTimes

	// remote, when not nil, says the replica runs in a node process
	// (remote.go): raft, fsm, stream and trans are then nil, and the
	// methods below reach it through remote.conn.
	remote *remoteReplica
}

// startReplica starts a replica over st's stores, listening on stream, and
// makes it st's current replica.
func startReplica(st *seat, stream *netsim.Layer, cfg Config, logger hclog.Logger) (*replica, error) {
	shardID, n := st.shard.id, st.node
	logger = logger.Named(fmt.Sprintf("s%d.%s", shardID, n.id))
	rep := &replica{
		shard:  shardID,
		node:   n,
		seat:   st,
		fsm:    newFSM(),
		stream: stream,
		logger: logger,
	}
	// Both report to fast failover (failover.go), which ignores them until
	// raft runs.
	stream.OnPeerGone(rep.peerClosed)
	trans := transport.New(wire.New(wire.Config{
		Stream:          stream,
		MaxPool:         transportMaxPool,
		MaxRPCsInFlight: cmp.Or(hooks.maxInFlight, transportMaxInFlight),
		Timeout:         transportTimeout,
	}), rep)
	if hooks.pipelineWindow > 0 {
		trans.Window = hooks.pipelineWindow
	}
	rep.trans = trans
	// Registered before raft starts, so that no election goes unseen. The
	// filter does the work and sends nothing on a channel.
	rep.observer = raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		st.shard.observe(rep, o)
		return false
	})
	closeStores, err := st.openStores(logger)
	if err != nil {
		_ = trans.Close()
		return nil, err
	}
	rep.closeStores = closeStores
	// The wrappers time entries for the callers' phases (phases.go).
	r, err := raft.NewRaft(raftConfig(cfg, n.id, logger), timedFSM{rep.fsm, &rep.times}, timedLogs{st.logs, &rep.times}, st.stable, st.snaps, trans)
	if err != nil {
		_ = trans.Close()
		_ = closeStores()
		return nil, fmt.Errorf("core: start raft for shard %d on %s: %w", shardID, n.id, err)
	}
	rep.raft = r
	r.RegisterObserver(rep.observer)
	rep.watchPeers()
	st.cur.Store(rep)
	return rep, nil
}

func raftConfig(cfg Config, id string, logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	// Without it raft logs to stderr.
	rc.Logger = logger
	// A restarted replica rebuilds its state machine from the latest
	// snapshot, then from the log as its leader reports commits.
	rc.NoSnapshotRestoreOnStart = false
	// raft reports each append and heartbeat to go-metrics twice, once
	// with the peer as a label and once in the metric's name; nothing here
	// reads go-metrics, and each report allocates its key and labels.
	rc.NoLegacyTelemetry = true
	return rc
}

// leading reports whether this replica believes it leads its shard.
func (r *replica) leading() bool {
	if r.remote != nil {
		return !r.stopped.Load() && r.remote.leader.Load()
	}
	return !r.stopped.Load() && r.raft.State() == raft.Leader
}

// apply replicates cmd and waits until this replica has applied it. The
// timeout only bounds handing cmd to raft; once raft has it, the wait ends
// when the entry is applied or leadership is lost, which the leader lease
// bounds.
func (r *replica) apply(cmd []byte, timeout time.Duration) error {
	_, _, err := r.applyAt(cmd, timeout)
	return err
}

// applyAt is apply that also returns the entry's log index and the state
// machine's response to it.
func (r *replica) applyAt(cmd []byte, timeout time.Duration) (uint64, any, error) {
	return r.applyTimed(cmd, timeout, nil)
}

// applyTimed is applyAt that adds the entry's phases to ph when ph is not
// nil (phases.go).
func (r *replica) applyTimed(cmd []byte, timeout time.Duration, ph *Phases) (uint64, any, error) {
	if !r.enter() {
		return 0, nil, raft.ErrRaftShutdown
	}
	defer r.exit()
	if timeout <= 0 {
		// raft reads a zero timeout as "wait forever".
		return 0, nil, raft.ErrEnqueueTimeout
	}
	if r.remote != nil {
		return r.remoteApply(cmd, timeout, ph)
	}
	term := r.raft.CurrentTerm()
	t0 := ph.clock()
	f := r.raft.Apply(cmd, timeout)
	if err := f.Error(); err != nil {
		return 0, nil, err
	}
	ph.entry(r, f.Index(), t0, ph.clock())
	// The entry committed in term or later. If later, readyTerm records a
	// term this replica has left behind, which no read will match.
	r.markReady(term)
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return 0, nil, err
	}
	return f.Index(), resp, nil
}

func (r *replica) markReady(term uint64) {
	for {
		cur := r.readyTerm.Load()
		if term <= cur || r.readyTerm.CompareAndSwap(cur, term) {
			return
		}
	}
}

// enter admits a client call into raft, or refuses it once the replica is
// stopping. A call that entered must exit.
func (r *replica) enter() bool {
	r.calls.Add(1)
	// Both are sequentially consistent atomics: either stop sees this call
	// counted, or this call sees stopped set.
	if r.stopped.Load() {
		r.calls.Add(-1)
		return false
	}
	return true
}

func (r *replica) exit() { r.calls.Add(-1) }

// stop crashes the replica.
//
// Its network goes first, so that peers and in-flight RPCs fail at once
// rather than waiting out I/O timeouts. raft.Shutdown goes last, once no
// client call is inside raft: Shutdown abandons futures still queued in
// raft's buffered channels without ever answering them, so a caller waiting
// on one would hang forever (hashicorp/raft#498). With its network cut, a
// leader steps down within its lease and answers every future it holds.
func (r *replica) stop() error {
	if !r.stopped.CompareAndSwap(false, true) {
		return nil
	}
	if r.remote != nil {
		return r.stopRemote(false)
	}
	// After this returns raft reports nothing more to the shard.
	r.raft.DeregisterObserver(r.observer)
	r.stopFailover()
	errTrans := r.trans.Close()
	deadline := time.Now().Add(callDrainTimeout)
	for r.calls.Load() > 0 {
		if time.Now().After(deadline) {
			r.logger.Error("shutting down with client calls still inside raft", "calls", r.calls.Load())
			break
		}
		time.Sleep(time.Millisecond)
	}
	errRaft := r.raft.Shutdown().Error()
	r.stream.WaitHandlers(handlerExitTimeout)
	// raft has stopped every goroutine that touches the stores.
	errStores := r.closeStores()
	return errors.Join(errTrans, errRaft, errStores)
}

// The methods below are the seam between the cluster logic and a replica:
// each reaches the replica's raft or state machine in this process, or,
// for a replica in a node process, asks its node (remote.go).

// currentTerm is the replica's raft term.
func (r *replica) currentTerm() uint64 {
	if r.remote != nil {
		return r.remote.term.Load()
	}
	return r.raft.CurrentTerm()
}

// commitIndex is the replica's commit index; 0 when its node does not
// answer.
func (r *replica) commitIndex() uint64 {
	if r.remote != nil {
		b, err := r.remoteRaft(raftOp{Op: "commit-index"})
		if err != nil {
			return 0
		}
		var n uint64
		_ = json.Unmarshal(b, &n)
		return n
	}
	return r.raft.CommitIndex()
}

// appliedIndex is the index the replica's state machine has applied; 0
// when its node does not answer.
func (r *replica) appliedIndex() uint64 {
	if r.remote != nil {
		a, err := r.remoteRead(fsmQuery{Kind: "applied"}, 0, nil)
		if err != nil {
			return 0
		}
		return a.Applied
	}
	return r.fsm.appliedIndex()
}

// transferTo moves the leadership to node id's replica at addr, or to any
// other when id is "".
func (r *replica) transferTo(id string, addr raft.ServerAddress) error {
	if r.remote != nil {
		op := raftOp{Op: "transfer"}
		if id != "" {
			op = raftOp{Op: "transfer-to", ID: id, Addr: string(addr)}
		}
		_, err := r.remoteRaft(op)
		return err
	}
	if id == "" {
		return r.raft.LeadershipTransfer().Error()
	}
	return r.raft.LeadershipTransferToServer(raft.ServerID(id), addr).Error()
}

// changeConfig adds node id's replica at addr as a nonvoter or a voter, or
// removes it (op "add-nonvoter", "add-voter", "remove").
func (r *replica) changeConfig(op, id string, addr raft.ServerAddress, timeout time.Duration) error {
	if r.remote != nil {
		_, err := r.remoteRaft(raftOp{Op: op, ID: id, Addr: string(addr), Timeout: timeout})
		return err
	}
	switch op {
	case "add-nonvoter":
		return r.raft.AddNonvoter(raft.ServerID(id), addr, 0, timeout).Error()
	case "add-voter":
		return r.raft.AddVoter(raft.ServerID(id), addr, 0, timeout).Error()
	case "remove":
		return r.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
	}
	return fmt.Errorf("core: unknown configuration change %q", op)
}

// bootstrap gives the replica its group's first configuration.
func (r *replica) bootstrap(servers []raft.Server) error {
	if r.remote != nil {
		ws := make([]wireServer, len(servers))
		for i, s := range servers {
			ws[i] = wireServer{ID: string(s.ID), Addr: string(s.Address)}
		}
		_, err := r.remoteRaft(raftOp{Op: "bootstrap", Servers: ws})
		return err
	}
	return r.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
}

// raftStatus is the replica's state and indexes, for Status. A remote
// replica's are those of its node's latest report.
func (r *replica) raftStatus() (state raft.RaftState, term, commit, applied, last uint64) {
	if r.remote != nil {
		// The latest poll's indexes, with the leader hint, which the
		// node's leader changes keep fresher than the poll.
		ws := r.remote.status.Load()
		if r.stopped.Load() {
			return raft.Shutdown, r.remote.term.Load(), 0, 0, 0
		}
		if ws == nil {
			ws = &wireReplicaStatus{State: "follower"}
		}
		state = raft.Follower
		switch {
		case r.remote.leader.Load():
			state = raft.Leader
		case ws.State == "candidate":
			state = raft.Candidate
		}
		return state, max(ws.Term, r.remote.term.Load()), ws.Commit, ws.Applied, ws.Last
	}
	state = r.raft.State()
	if r.stopped.Load() {
		state = raft.Shutdown
	}
	return state, r.raft.CurrentTerm(), r.raft.CommitIndex(), r.raft.AppliedIndex(), r.raft.LastIndex()
}

// localGet reads key from the replica's state machine without a quorum
// round. The value is the stored one: copy it before handing it out.
func (r *replica) localGet(key string) ([]byte, bool) {
	if r.remote != nil {
		a, err := r.remoteRead(fsmQuery{Kind: "get", Key: key}, 0, nil)
		if err != nil {
			return nil, false
		}
		return a.Value, a.Found
	}
	return r.fsm.get(key)
}

// lockHolders returns one holder per transaction holding locks on the
// replica's state machine.
func (r *replica) lockHolders() ([]lockHolder, error) {
	if r.remote != nil {
		a, err := r.remoteRead(fsmQuery{Kind: "holders"}, 0, nil)
		if err != nil {
			return nil, err
		}
		return holdersFromWire(a.Held), nil
	}
	return r.fsm.lockHolders(), nil
}

// staleCommits is fsm.staleCommits on the replica's state machine.
func (r *replica) staleCommits(now int64, n int) (map[uint64][]int, error) {
	if r.remote != nil {
		a, err := r.remoteRead(fsmQuery{Kind: "stale", Now: now, N: n}, 0, nil)
		if err != nil {
			return nil, err
		}
		return a.Stale, nil
	}
	return r.fsm.staleCommits(now, n), nil
}

// lockCount counts the keys locked on the replica's state machine; 0 when
// its node does not answer.
func (r *replica) lockCount() int {
	if r.remote != nil {
		a, err := r.remoteRead(fsmQuery{Kind: "locks"}, 0, nil)
		if err != nil {
			return 0
		}
		return a.Count
	}
	return r.fsm.lockCount()
}

// stopRemote stops a replica in a node process: the node crashes it, and
// drops its stores too when drop is set. A node that is down has nothing
// left to stop.
func (r *replica) stopRemote(drop bool) error {
	r.remote.leader.Store(false)
	if !r.node.up.Load() && !drop {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	err := r.remote.conn.StopReplica(ctx, r.shard, drop)
	if errors.Is(err, ErrNodeUnreachable) {
		return nil // gone with its process
	}
	return err
}

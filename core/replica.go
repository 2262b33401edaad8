package core

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

const (
	// transportTimeout bounds one Raft RPC's I/O. Loopback answers in well
	// under a millisecond; the bound only matters for a peer that hangs.
	transportTimeout = 2 * time.Second
	// transportMaxPool is how many idle connections a transport keeps per
	// peer: enough for heartbeats, appends and votes to go at once.
	transportMaxPool = 3
	// handlerExitTimeout bounds how long stopping a replica waits for raft's
	// connection handlers to return after their connections are cut.
	handlerExitTimeout = 2 * time.Second
	// callDrainTimeout bounds how long stopping a replica waits for client
	// calls inside raft to return. A leader cut off from its peers answers
	// them within its lease; the bound only guards against a raft bug.
	callDrainTimeout = 5 * time.Second
)

// replica is one shard's Raft instance on one node, with its state machine,
// in-memory stores and network.
type replica struct {
	shard  int
	node   *node
	fsm    *fsm
	logs   *raft.InmemStore // log and stable store both
	stream *streamLayer
	trans  *raft.NetworkTransport
	raft   *raft.Raft

	logger hclog.Logger

	// stopped turns away new client calls; calls counts those inside raft,
	// see stop.
	stopped atomic.Bool
	calls   atomic.Int64

	// readyTerm is a term in which this replica, as leader, has had an entry
	// of its own term committed and applied. Until that happens a new
	// leader's commit index may miss entries its predecessor committed, so
	// Get commits a no-op before trusting the commit index as a read index.
	readyTerm atomic.Uint64
}

func startReplica(shardID int, n *node, cfg Config, logger hclog.Logger) (*replica, error) {
	stream, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	logger = logger.Named(fmt.Sprintf("s%d.%s", shardID, n.id))
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		// Without it the transport logs to stderr.
		Logger: logger.Named("net"),
	})
	rep := &replica{
		shard:  shardID,
		node:   n,
		fsm:    newFSM(),
		logs:   raft.NewInmemStore(),
		stream: stream,
		trans:  trans,
		logger: logger,
	}
	r, err := raft.NewRaft(raftConfig(cfg, n.id, logger), rep.fsm, rep.logs, rep.logs, newMemSnapshotStore(), trans)
	if err != nil {
		_ = trans.Close()
		return nil, fmt.Errorf("core: start raft for shard %d on %s: %w", shardID, n.id, err)
	}
	rep.raft = r
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
	// The stores start empty, so there is never a snapshot to restore.
	rc.NoSnapshotRestoreOnStart = true
	return rc
}

func (r *replica) addr() raft.ServerAddress { return r.stream.addr }

// leading reports whether this replica believes it leads its shard.
func (r *replica) leading() bool {
	return !r.stopped.Load() && r.raft.State() == raft.Leader
}

// apply replicates cmd and waits until this replica has applied it. The
// timeout only bounds handing cmd to raft; once raft has it, the wait ends
// when the entry is applied or leadership is lost, which the leader lease
// bounds.
func (r *replica) apply(cmd []byte, timeout time.Duration) error {
	if !r.enter() {
		return raft.ErrRaftShutdown
	}
	defer r.exit()
	if timeout <= 0 {
		// raft reads a zero timeout as "wait forever".
		return raft.ErrEnqueueTimeout
	}
	term := r.raft.CurrentTerm()
	f := r.raft.Apply(cmd, timeout)
	if err := f.Error(); err != nil {
		return err
	}
	// The entry committed in term or later. If later, readyTerm records a
	// term this replica has left behind, which no read will match.
	r.markReady(term)
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
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
	r.stream.waitHandlers(handlerExitTimeout)
	return errors.Join(errTrans, errRaft)
}

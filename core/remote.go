package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Nodes in processes of their own.
//
// A cluster whose Config.Launcher is set keeps its logic here, in the
// controller: routing to shard leaders, two-phase commit and sagas,
// queries, placement and membership, the meta group's failure detector.
// Its replicas run in node processes (NodeHost, behind a NodeConn), which
// replicate among themselves over TCP. The seam is the replica: a
// *replica with remote set has no raft, state machine or network in this
// process, and each of its methods the cluster logic calls (apply, the
// read-index read, the reads of its state machine, the configuration
// changes, stop) becomes one call on the node's NodeConn. Everything
// crossing that line is bytes core encodes itself, so core knows nothing
// of the transport (node/ speaks gRPC).

// NodeConn is the controller's line to one node: what a node process
// serves (node/ over gRPC; NodeHost in this process in core's tests).
// Every call may fail with ErrNodeUnreachable when the node cannot be
// reached, which the cluster treats like a replica that stopped.
type NodeConn interface {
	// StartReplica starts a replica from spec (EncodeReplicaSpec's) and
	// returns the address its Raft traffic arrives on.
	StartReplica(ctx context.Context, spec []byte) (addr string, err error)
	// StopReplica crashes the node's replica of shard; drop also deletes
	// its stores, once the replica has left its group.
	StopReplica(ctx context.Context, shard int, drop bool) error
	// Apply replicates cmd through the node's replica of shard, which must
	// lead it, and returns the entry's index and the state machine's
	// response (EncodeResponse's). With timed, the node also times the
	// entry's phases and its own time for the call (NodeTimes); without,
	// times is zero and the node reads no clock for it.
	Apply(ctx context.Context, shard int, cmd []byte, timeout time.Duration, timed bool) (index uint64, resp []byte, times NodeTimes, err error)
	// Read runs a read of the node's replica's state machine (a query of
	// this file's fsmQuery) and returns its answer; timed is as for Apply
	// (a read-index read's phases).
	Read(ctx context.Context, shard int, query []byte, timeout time.Duration, timed bool) (answer []byte, times NodeTimes, err error)
	// Raft runs a configuration change or leadership call (raftOp).
	Raft(ctx context.Context, shard int, op []byte) ([]byte, error)
	// Network changes the node's stream layer: partitions and shaping.
	Network(ctx context.Context, op []byte) error
	// Status reports the node's replicas (EncodeNodeStatus's).
	Status(ctx context.Context) ([]byte, error)
	// Ping is one round trip to the node: a heartbeat.
	Ping(ctx context.Context) error
	// Watch calls f with every leader change a replica of the node sees,
	// until ctx ends or the line breaks; it then returns.
	Watch(ctx context.Context, f func(shard int, leader string, term uint64)) error
	// Close lets go of the line.
	Close() error
}

// NodeLauncher starts the nodes of a cluster whose replicas run elsewhere.
// Its methods are called with the cluster's fault and membership locks
// held, one at a time.
type NodeLauncher interface {
	// Start starts node id (or, for nodes something else started, takes
	// the next one) and returns a line to it. slot is the node's place in
	// the network's link table.
	Start(ctx context.Context, id string, slot int) (NodeConn, error)
	// Kill stops node id abruptly, as a crash: SIGKILL of its process, or
	// an exit asked for over its admin API.
	Kill(id string) error
	// Restart starts node id again after Kill, over its data directory in
	// disk mode, empty in memory mode, and returns a new line to it.
	Restart(ctx context.Context, id string) (NodeConn, error)
	// Release lets go of node id, which has left the cluster with nothing
	// left on it: a process the launcher started stops, a node something
	// else started is reset and keeps running.
	Release(id string) error
	// Close stops every node it started and lets go of the rest.
	Close() error
}

// NodeExit is a node process that exited without the cluster asking: a
// crash phantom did not cause (the OOM killer, an operator's kill -9, a
// panic, a lapsed lease).
type NodeExit struct {
	ID  string
	PID int
	// Reason is how it ended, as the OS says: "signal: killed", "exit
	// status 2".
	Reason string
	// Log is its log file, "" when the launcher keeps none.
	Log string
	At  time.Time
}

// ExitWatcher is a NodeLauncher that knows when a node's process exits on
// its own, as the parent of the processes it starts does. The cluster
// registers once, before its nodes start, and treats such an exit as a
// crash it did not make: the node is down at once, its leaderships lost,
// its replicas stopped, so that a later RestartNode brings it back; the
// failure detector then marks it down as it would any crashed node, and
// the elections that follow count as spontaneous.
type ExitWatcher interface {
	// OnExit has f called, on a goroutine of the launcher's, when a node
	// process exits that the launcher was not told to stop (Kill,
	// Release, Close). conn is the line Start or Restart returned for that
	// process. f must not block.
	OnExit(f func(e NodeExit, conn NodeConn))
}

// ErrNodeUnreachable means a node process did not answer: it died, or the
// line to it broke. Calls through it are retried on another leader.
var ErrNodeUnreachable = errors.New("core: node unreachable")

// ErrRefused is returned by a fault that a launcher cannot carry out, such
// as restarting a node something else started.
var ErrRefused = errors.New("core: refused")

// remoteReplica is the controller's view of a replica running in a node
// process: the line to it, and what its leader changes and status polls
// last said.
type remoteReplica struct {
	conn   NodeConn
	leader atomic.Bool // the leader hint: the node's leader changes, checked by its status polls
	term   atomic.Uint64
	status atomic.Pointer[wireReplicaStatus] // the latest poll's
}

// replicaSpec is what a node needs to start a replica.
type replicaSpec struct {
	Shard   int    `json:"shard"`
	Node    string `json:"node"`
	Slot    int    `json:"slot"`
	Config  Config `json:"config"`
	Restart bool   `json:"restart"`        // reopen the replica's stores rather than make new ones
	Addr    string `json:"addr,omitempty"` // with Restart, the address it had
}

// wireReplicaStatus is one replica's status as a node reports it.
type wireReplicaStatus struct {
	Shard   int    `json:"shard"`
	State   string `json:"state"`
	Term    uint64 `json:"term"`
	Commit  uint64 `json:"commit"`
	Applied uint64 `json:"applied"`
	Last    uint64 `json:"last"`
	Leader  bool   `json:"leader"`
}

// nodeStatusWire is a node's report of its replicas.
type nodeStatusWire struct {
	Node     string              `json:"node"`
	Replicas []wireReplicaStatus `json:"replicas"`
}

// raftOp is a configuration change or leadership call on one replica.
type raftOp struct {
	Op      string        `json:"op"` // transfer, transfer-to, add-nonvoter, add-voter, remove, bootstrap, retime, commit-index
	ID      string        `json:"id,omitempty"`
	Addr    string        `json:"addr,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Servers []wireServer  `json:"servers,omitempty"`
	T       *wireTimeouts `json:"t,omitempty"`
}

type wireServer struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

type wireTimeouts struct {
	Heartbeat, Election, Lease time.Duration
}

// netOp is a change of a node's stream layer.
type netOp struct {
	Op    string         `json:"op"` // isolate, heal, link, peers
	Slot  int            `json:"slot,omitempty"`
	To    int            `json:"to,omitempty"`
	Link  Link           `json:"link,omitempty"`
	Peers map[string]int `json:"peers,omitempty"` // replica address -> node slot
}

// fsmQuery is a read of a replica's state machine, sent to the node that
// hosts it. Barrier makes it a read-index read on the leader first.
type fsmQuery struct {
	Kind    string   `json:"kind"` // get, sum, outcome, holders, stale, locks, applied (waiting for index ID when set), query
	Barrier bool     `json:"barrier,omitempty"`
	Key     string   `json:"key,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	ID      uint64   `json:"id,omitempty"`
	Now     int64    `json:"now,omitempty"`
	N       int      `json:"n,omitempty"`
	Query   *Query   `json:"query,omitempty"`
	Total   int      `json:"total,omitempty"`
}

// fsmAnswer is what a node answers to an fsmQuery.
type fsmAnswer struct {
	Value   []byte                 `json:"value,omitempty"`
	Found   bool                   `json:"found,omitempty"`
	Held    []wireHolder           `json:"held,omitempty"`
	Sum     int64                  `json:"sum,omitempty"`
	Neg     int                    `json:"neg,omitempty"`
	Outcome Outcome                `json:"outcome,omitempty"`
	Count   int                    `json:"count,omitempty"`
	Applied uint64                 `json:"applied,omitempty"`
	Stale   map[uint64][]int       `json:"stale,omitempty"`
	Partial map[string]wirePartial `json:"partial,omitempty"`
}

type wireHolder struct {
	Txn   uint64 `json:"txn"`
	Coord int    `json:"coord"`
	Start int64  `json:"start"`
}

type wirePartial struct {
	Count, Sum, Min, Max int64
}

func holdersToWire(hs []lockHolder) []wireHolder {
	if hs == nil {
		return nil
	}
	out := make([]wireHolder, len(hs))
	for i, h := range hs {
		out[i] = wireHolder{h.txn, h.coord, h.start}
	}
	return out
}

func holdersFromWire(ws []wireHolder) []lockHolder {
	if ws == nil {
		return nil
	}
	out := make([]lockHolder, len(ws))
	for i, w := range ws {
		out[i] = lockHolder{txn: w.Txn, coord: w.Coord, start: w.Start}
	}
	return out
}

// Errors cross the line as a code, for the sentinels the cluster logic
// compares with errors.Is, and the message.
var wireErrors = []struct {
	code string
	err  error
}{
	{"not-leader", raft.ErrNotLeader},
	{"leadership-lost", raft.ErrLeadershipLost},
	{"shutdown", raft.ErrRaftShutdown},
	{"enqueue-timeout", raft.ErrEnqueueTimeout},
	{"transfer-in-progress", raft.ErrLeadershipTransferInProgress},
	{"cant-bootstrap", raft.ErrCantBootstrap},
	{"term-changed", errTermChanged},
	{"apply-lag", errApplyLag},
	{"no-leader", ErrNoLeader},
	{"unreachable", ErrNodeUnreachable},
	{"bad-command", errBadCommand},
	{"conflict", ErrConflict},
	{"condition", ErrConditionFailed},
	{"closed", ErrClosed},
	{"refused", ErrRefused},
	{"unknown-shard", ErrUnknownShard},
}

type wireError struct {
	Code   string      `json:"code,omitempty"`
	Msg    string      `json:"msg"`
	Locked *wireLocked `json:"locked,omitempty"`
}

type wireLocked struct {
	Key    string     `json:"key"`
	Holder wireHolder `json:"holder"`
}

// EncodeError encodes err for the line to the controller; nil for nil.
func EncodeError(err error) []byte {
	if err == nil {
		return nil
	}
	b, _ := json.Marshal(errorToWire(err))
	return b
}

func errorToWire(err error) wireError {
	w := wireError{Msg: err.Error()}
	var le *lockedError
	if errors.As(err, &le) {
		w.Locked = &wireLocked{Key: le.key, Holder: wireHolder{le.holder.txn, le.holder.coord, le.holder.start}}
		return w
	}
	for _, e := range wireErrors {
		if errors.Is(err, e.err) {
			w.Code = e.code
			break
		}
	}
	return w
}

// DecodeError turns EncodeError's bytes back into an error that matches
// the same sentinel; nil for empty bytes.
func DecodeError(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var w wireError
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("core: undecodable error from node: %q", b)
	}
	return errorFromWire(w)
}

func errorFromWire(w wireError) error {
	if w.Locked != nil {
		h := w.Locked.Holder
		return &lockedError{key: w.Locked.Key, holder: lockHolder{txn: h.Txn, coord: h.Coord, start: h.Start}}
	}
	for _, e := range wireErrors {
		if e.code == w.Code {
			if w.Msg == e.err.Error() {
				return e.err
			}
			return &remoteError{msg: w.Msg, err: e.err}
		}
	}
	return errors.New(w.Msg)
}

// remoteError is an error from a node that wraps one of core's sentinels.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// Responses of the state machine, as Apply returns them, cross the line
// tagged by type.
const (
	respNil byte = iota
	respVote
	respOutcome
	respBatch
	respError
)

// encodeResponse encodes a state machine's response: nil, voteResp,
// Outcome, error, or a batch of them.
func encodeResponse(resp any) []byte {
	var b wbuf
	b.response(resp)
	return b
}

func (b *wbuf) response(resp any) {
	switch r := resp.(type) {
	case nil:
		b.byte1(respNil)
	case voteResp:
		b.byte1(respVote)
		b.byte1(byte(r.vote))
		b.uvarint(uint64(len(r.holders)))
		for _, h := range r.holders {
			b.uvarint(h.txn)
			b.uvarint(uint64(h.coord))
			b.varint(h.start)
		}
	case Outcome:
		b.byte1(respOutcome)
		b.byte1(byte(r))
	case []any:
		b.byte1(respBatch)
		b.uvarint(uint64(len(r)))
		for _, x := range r {
			b.response(x)
		}
	case error:
		b.byte1(respError)
		b.bytes(EncodeError(r))
	default:
		b.byte1(respError)
		b.bytes(EncodeError(fmt.Errorf("core: state machine response of type %T cannot cross to the controller", resp)))
	}
}

func decodeResponse(p []byte) (any, error) {
	r := rbuf{b: p}
	resp := r.response()
	if r.bad {
		return nil, fmt.Errorf("core: malformed response from node (%d bytes)", len(p))
	}
	return resp, nil
}

func (r *rbuf) response() any {
	switch r.byte1() {
	case respNil:
		return nil
	case respVote:
		v := voteResp{vote: vote(r.byte1())}
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.bad = true
			return nil
		}
		for range n {
			v.holders = append(v.holders, lockHolder{txn: r.uvarint(), coord: int(r.uvarint()), start: r.varint()})
		}
		return v
	case respOutcome:
		return Outcome(r.byte1())
	case respBatch:
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.bad = true
			return nil
		}
		out := make([]any, n)
		for i := range out {
			out[i] = r.response()
		}
		return out
	case respError:
		return DecodeError(r.bytes())
	default:
		r.bad = true
		return nil
	}
}

// remoteTimeout bounds a call to a node that has no deadline of its own:
// status polls, stops, configuration calls.
const remoteTimeout = 5 * time.Second

func (r *replica) rctx(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		timeout = remoteTimeout
	}
	// The node bounds the call by timeout; the line gets a little more, so
	// that the node's own answer wins over a cut line.
	return context.WithTimeout(context.Background(), timeout+time.Second)
}

// remoteApply is applyTimed for a replica in a node process: when ph is
// not nil, the node times the entry's phases, the line to the node its
// wait there, and the round trip's rest goes to ph.Wire.
func (r *replica) remoteApply(cmd []byte, timeout time.Duration, ph *Phases) (uint64, any, error) {
	ctx, cancel := r.rctx(timeout)
	defer cancel()
	t0 := ph.clock()
	index, p, times, err := r.remote.conn.Apply(ctx, r.shard, cmd, timeout, ph != nil)
	if err != nil {
		if leadershipTrouble(err) {
			r.remote.leader.Store(false)
		}
		return 0, nil, err
	}
	resp, err := decodeResponse(p)
	if err != nil {
		return 0, nil, err
	}
	// As in applyTimed, an entry that committed counts its phases, even
	// when the state machine's response is an error.
	ph.remote(&times, time.Duration(ph.clock()-t0))
	if err, ok := resp.(error); ok {
		return 0, nil, err
	}
	return index, resp, nil
}

// remoteRead runs q on the replica's node and returns the answer. When ph
// is not nil, the node times a barrier read's phases, and the round trip's
// rest goes to ph.Wire (reads do not queue in the line: ph.Line stays 0).
func (r *replica) remoteRead(q fsmQuery, timeout time.Duration, ph *Phases) (*fsmAnswer, error) {
	if !r.enter() {
		return nil, raft.ErrRaftShutdown
	}
	defer r.exit()
	body, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := r.rctx(timeout)
	defer cancel()
	t0 := ph.clock()
	p, times, err := r.remote.conn.Read(ctx, r.shard, body, timeout, ph != nil)
	if err != nil {
		if q.Barrier && leadershipTrouble(err) {
			r.remote.leader.Store(false)
		}
		return nil, err
	}
	var a fsmAnswer
	if err := json.Unmarshal(p, &a); err != nil {
		return nil, fmt.Errorf("core: malformed read answer from %s: %w", r.node.id, err)
	}
	ph.remote(&times, time.Duration(ph.clock()-t0))
	return &a, nil
}

// remoteRaft runs op on the replica's node.
func (r *replica) remoteRaft(op raftOp) ([]byte, error) {
	if !r.enter() {
		return nil, raft.ErrRaftShutdown
	}
	defer r.exit()
	body, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	ctx, cancel := r.rctx(op.Timeout)
	defer cancel()
	return r.remote.conn.Raft(ctx, r.shard, body)
}

// newRemoteReplica makes the controller's handle on a replica that runs on
// n's node process, and makes it st's current replica.
func newRemoteReplica(st *seat, conn NodeConn) *replica {
	rep := &replica{shard: st.shard.id, node: st.node, seat: st, remote: &remoteReplica{conn: conn}}
	st.cur.Store(rep)
	return rep
}

// encodeReplicaSpec encodes s for StartReplica, without the fields that
// stay in the controller.
func encodeReplicaSpec(s replicaSpec) []byte {
	s.Config.LogOutput = nil
	s.Config.Launcher = nil
	b, _ := json.Marshal(s)
	return b
}

package core

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Where an op's time goes.
//
// hashicorp/raft times nothing per entry that a caller can read, so the
// core times an entry from outside raft, at the seams it owns: the shard's
// batcher (batch.go), the call into raft.Apply and the wait on its future,
// the leader's log store (StoreLogs, which raft's leader loop calls before
// it sends the entries to any follower) and the state machine (ApplyBatch).
// The log store and the state machine write their times into a small ring
// per replica, indexed by log index; the caller looks its entry up once its
// future has answered. Nothing is allocated per entry, and a caller that
// passes no *Phases pays only the ring's stores.
//
// What raft does between the leader's append and the state machine —
// sending AppendEntries, a quorum's acknowledgements, advancing the commit
// index, handing the entry to the state machine's goroutine — cannot be
// split from outside; it is one phase, Replicate ("replicate+commit").
//
// A replica in a node process (remote.go) is timed there, by the same
// code: the controller sets a flag in its Apply or Read call, the node
// fills a Phases of its own and returns it with its own time for the call
// (NodeTimes, by value and as flat fields on the wire, so nothing is
// allocated for it). The controller's line to the node (node/client.go)
// adds how long the call waited there before it left (Line), and the
// controller counts the rest of the round trip as Wire. An untimed call
// reads no clock on either side.

// Phases is where one call's time went, as the core could time it: the
// caller owns it and the core adds to it, so a call that retries counts
// every successful attempt's phases and the rest of its time (backoff,
// failed attempts, the client's own work) is in no phase. The phases of a
// call therefore add up to at most its latency. A phase that does not
// happen in a call, or could not be timed, stays zero.
type Phases struct {
	// Batch is the wait in the shard's batcher for an entry to go in
	// (transaction commands only; puts are entries of their own).
	Batch time.Duration
	// Queue is from handing the entry to raft.Apply until the leader's loop
	// starts storing it: raft's apply channel and the leader loop's turn.
	Queue time.Duration
	// Append is the leader's log store writing the entry (with the others
	// raft stored in the same call); the fsync in disk mode.
	Append time.Duration
	// Replicate is from the leader's append until its state machine starts
	// applying the entry: replication to a quorum, the commit, and the
	// state machine's queue ("replicate+commit"). When the entry's times
	// could not be found (the ring had moved on), all of raft's part of the
	// call is counted here.
	Replicate time.Duration
	// Apply is the leader's state machine applying the batch of entries
	// that held this one, and raft answering the future.
	Apply time.Duration
	// ReadIndex is a linearizable read's proof of leadership: a heartbeat
	// round to a quorum (VerifyLeader), and a no-op entry first when the
	// leader has none of its term applied yet.
	ReadIndex time.Duration
	// ApplyWait is a read's wait for the leader's state machine to reach
	// the read index.
	ApplyWait time.Duration
	// Line and Wire are, for a replica in a node process, the part of
	// each call to the node outside the node's own time for it (together
	// "the hop", controller↔node). Zero in embedded mode.
	//
	// Line is the call's wait in the controller's line to the node, queued
	// behind the calls out before it until a sender takes it: the
	// controller's own limit on how much it keeps in flight to a node.
	Line time.Duration
	// Wire is the rest of the round trip: gRPC's encoding and decoding on
	// both sides, the network both ways, the node's gRPC server until the
	// node's own timing starts, and waking the caller with the answer. A
	// command batched with others waits for the batch's slowest on the
	// node, which counts as the node's time (in no phase), not the wire's.
	Wire time.Duration
}

// Hop is the whole of a remote call's time outside the node: Line + Wire.
func (p *Phases) Hop() time.Duration { return p.Line + p.Wire }

// Total is the sum of the phases.
func (p *Phases) Total() time.Duration {
	return p.Batch + p.Queue + p.Append + p.Replicate + p.Apply + p.ReadIndex + p.ApplyWait + p.Line + p.Wire
}

// Add adds q's phases to p's: a sum over calls, say.
func (p *Phases) Add(q *Phases) {
	p.Batch += q.Batch
	p.Queue += q.Queue
	p.Append += q.Append
	p.Replicate += q.Replicate
	p.Apply += q.Apply
	p.ReadIndex += q.ReadIndex
	p.ApplyWait += q.ApplyWait
	p.Line += q.Line
	p.Wire += q.Wire
}

// NodeTimes is what a node process timed of a call the controller asked it
// to time (NodeConn's Apply and Read with timed set): the phases it could
// time, and its own time for the call, from taking it to answering it;
// and, timed by the controller's line to the node, the call's wait in that
// line before it left for the node (zero for calls that do not queue).
// It travels by value, so that timing a remote call allocates nothing.
type NodeTimes struct {
	Phases Phases
	Took   time.Duration
	Line   time.Duration
}

// remote adds the phases of a call to a node, which took rtt from the
// controller's side and whose node timed t, to p: the node's phases, the
// wait in the controller's line as Line, and the rest of the round trip as
// Wire. The node's time and the line's lie within the round trip, so the
// phases still add up to at most the call's latency: the line's wait is
// cut to the round trip, and a negative rest (t from a node that timed
// more than the call) counts as 0.
func (p *Phases) remote(t *NodeTimes, rtt time.Duration) {
	if p == nil {
		return
	}
	p.Add(&t.Phases)
	line := min(max(t.Line, 0), rtt)
	p.Line += line
	p.Wire += max(rtt-line-t.Took, 0)
}

// PutTimed is Put that also says where its time went: it sets *ph (which
// must not be nil) to the phases of the call.
func (c *Cluster) PutTimed(ctx context.Context, key string, value []byte, ph *Phases) error {
	*ph = Phases{}
	if c.closed.Load() {
		return ErrClosed
	}
	rt := c.newRetry(ctx, "put")
	rt.ph = ph
	defer rt.stop()
	_, err := c.put(c.shardFor(key), key, value, &rt)
	return err
}

// GetTimed is Get that also says where its time went: it sets *ph (which
// must not be nil) to the phases of the call.
func (c *Cluster) GetTimed(ctx context.Context, key string, ph *Phases) ([]byte, error) {
	*ph = Phases{}
	return c.get(ctx, key, ph)
}

// clockBase anchors nanotime on the monotonic clock.
var clockBase = time.Now()

// nanotime is a monotonic clock reading in nanoseconds, cheap to store in
// an atomic.
func nanotime() int64 { return int64(time.Since(clockBase)) }

// entrySlots is how many entries' times a replica's ring holds: far more
// than a leader has between its log store and its callers' futures.
const entrySlots = 1024

// entryTimes is a replica's ring of entry times. Its writers are raft's
// goroutines (the log store's caller, the state machine's), its readers the
// client calls whose entries they were; a slot reused for a later entry
// while a caller reads it is detected (the index changes, or the times are
// out of order) and counted as no times found.
type entryTimes struct {
	off   atomic.Bool // set by tests and benchmarks to time nothing
	slots [entrySlots]entrySlot
}

type entrySlot struct {
	index                          atomic.Uint64 // 0 while being written
	storeStart, stored, applyStart atomic.Int64
}

// storing records that logs were stored from start to end.
func (t *entryTimes) storing(logs []*raft.Log, start, end int64) {
	for _, l := range logs {
		s := &t.slots[l.Index%entrySlots]
		s.index.Store(0)
		s.storeStart.Store(start)
		s.stored.Store(end)
		s.applyStart.Store(0)
		s.index.Store(l.Index)
	}
}

// applying records that the state machine began applying logs at now.
func (t *entryTimes) applying(logs []*raft.Log, now int64) {
	for _, l := range logs {
		s := &t.slots[l.Index%entrySlots]
		if s.index.Load() == l.Index {
			s.applyStart.Store(now)
		}
	}
}

// lookup returns the times of the entry at index, and false when the ring
// holds none that make sense for a call that handed it to raft at from.
func (t *entryTimes) lookup(index uint64, from int64) (storeStart, stored, applyStart int64, ok bool) {
	s := &t.slots[index%entrySlots]
	if s.index.Load() != index {
		return 0, 0, 0, false
	}
	storeStart, stored, applyStart = s.storeStart.Load(), s.stored.Load(), s.applyStart.Load()
	if s.index.Load() != index {
		return 0, 0, 0, false
	}
	ok = from <= storeStart && storeStart <= stored && stored <= applyStart
	return storeStart, stored, applyStart, ok
}

// entry adds the phases of an entry handed to raft at from, which raft
// answered at now, to p; rep's ring has its times. p may be nil.
func (p *Phases) entry(rep *replica, index uint64, from, now int64) {
	if p == nil {
		return
	}
	storeStart, stored, applyStart, ok := rep.times.lookup(index, from)
	if !ok || applyStart > now {
		p.Replicate += time.Duration(now - from)
		return
	}
	p.Queue += time.Duration(storeStart - from)
	p.Append += time.Duration(stored - storeStart)
	p.Replicate += time.Duration(applyStart - stored)
	p.Apply += time.Duration(now - applyStart)
}

// clock reads nanotime when p is not nil, for the phases of a call being
// timed; it returns 0 without reading the clock otherwise.
func (p *Phases) clock() int64 {
	if p == nil {
		return 0
	}
	return nanotime()
}

// timedLogs is a replica's log store, timing the leader's appends into the
// replica's ring.
type timedLogs struct {
	raft.LogStore
	times *entryTimes
}

func (l timedLogs) StoreLogs(logs []*raft.Log) error {
	if l.times.off.Load() {
		return l.LogStore.StoreLogs(logs)
	}
	start := nanotime()
	err := l.LogStore.StoreLogs(logs)
	if err == nil {
		l.times.storing(logs, start, nanotime())
	}
	return err
}

func (l timedLogs) StoreLog(log *raft.Log) error {
	if l.times.off.Load() {
		return l.LogStore.StoreLog(log)
	}
	start := nanotime()
	err := l.LogStore.StoreLog(log)
	if err == nil {
		one := [1]*raft.Log{log}
		l.times.storing(one[:], start, nanotime())
	}
	return err
}

// IsMonotonic passes on the store's own answer: raft treats a monotonic
// store differently after restoring a snapshot.
func (l timedLogs) IsMonotonic() bool {
	m, ok := l.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// timedFSM is a replica's state machine, timing when it begins each batch
// into the replica's ring.
type timedFSM struct {
	*fsm
	times *entryTimes
}

func (f timedFSM) ApplyBatch(logs []*raft.Log) []any {
	if !f.times.off.Load() {
		f.times.applying(logs, nanotime())
	}
	return f.fsm.ApplyBatch(logs)
}

var (
	_ raft.BatchingFSM       = timedFSM{}
	_ raft.MonotonicLogStore = timedLogs{}
)

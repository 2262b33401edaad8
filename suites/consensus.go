package suites

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// consensusSuite measures Raft itself: how long a replicated command takes
// to commit, how long a linearizable read takes, and how long a shard is
// without a leader when its leader dies.
type consensusSuite struct{}

// The consensus suite's ops, in the order of Ops.
const (
	opSubmit    = iota // a replicated put, committed by a quorum and applied on the leader
	opReplicate        // a put until every live replica has applied it
	opRead             // a linearizable read of a key just written
	opElection         // from a leader's loss to its successor's election

	// The phases of a submit and a read (core.Phases), each an op of its
	// own folded into its op's breakdown.
	opSubmitQueue     // raft.Apply until the leader's loop stores the entry
	opSubmitAppend    // the leader's log store
	opSubmitReplicate // replication to a quorum and the commit, until the state machine takes it
	opSubmitApply     // the leader's state machine, and raft's answer
	opSubmitLine      // with nodes in processes: the wait in phantom's line to the node
	opSubmitWire      // with nodes in processes: the rest of the call's time between phantom and the node
	opReadIndex       // the read's proof of leadership (a heartbeat round)
	opReadApplyWait   // waiting for the leader to apply up to the read index
	opReadWire        // as opSubmitWire, for the read (reads do not wait in the line)
)

// One iteration in readEvery adds a linearizable read after its put, and
// one in readEvery, half a cycle later, waits for its put to reach every
// replica: writes committed by a quorum dominate, as the suite is about
// commits.
const readEvery = 10

// electionEvery is how often the consensus suite kills a shard leader to
// time the election that follows.
const electionEvery = 2 * time.Second

func (consensusSuite) Name() string { return "consensus" }

func (consensusSuite) Description() string {
	return "Raft: commits, replication to every replica, linearizable reads, leader elections"
}

func (consensusSuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{
		{Name: "consensus.submit", Suite: "consensus", Primary: true},
		{Name: "consensus.replicate", Suite: "consensus"},
		{Name: "consensus.read", Suite: "consensus"},
		// An election's length is no request latency: the latency
		// baselines do not judge it.
		{Name: "consensus.election", Suite: "consensus", NoBaseline: true},
		submitPhase("queue", "queue"),
		submitPhase("append", "append"),
		submitPhase("replicate", "replicate+commit"),
		submitPhase("apply", "apply"),
		submitPhase("line", "line"),
		submitPhase("wire", "wire"),
		{Name: "consensus.read.read_index", Suite: "consensus", PhaseOf: "consensus.read", Phase: "read-index", NoBaseline: true},
		{Name: "consensus.read.apply_wait", Suite: "consensus", PhaseOf: "consensus.read", Phase: "apply-wait", NoBaseline: true},
		{Name: "consensus.read.wire", Suite: "consensus", PhaseOf: "consensus.read", Phase: "wire", NoBaseline: true},
	}
}

func submitPhase(op, phase string) metrics.OpSpec {
	return metrics.OpSpec{Name: "consensus.submit." + op, Suite: "consensus", PhaseOf: "consensus.submit", Phase: phase, NoBaseline: true}
}

// recordRaftPhases records the raft phases of one call, ph, as the ops
// from first on: queue, append, replicate+commit, apply, then the hop's
// line and wire.
func recordRaftPhases(rec *metrics.Recorder, first int, ph *core.Phases) {
	rec.Record(first, ph.Queue)
	rec.Record(first+1, ph.Append)
	rec.Record(first+2, ph.Replicate)
	rec.Record(first+3, ph.Apply)
	if ph.Hop() > 0 {
		rec.Record(first+4, ph.Line)
		rec.Record(first+5, ph.Wire)
	}
}

// recordWire records the wire part of the hop of a call that went to a
// node process: the time outside the node, which a call in embedded mode
// has none of. Only such calls record it (as recordRaftPhases does the
// line and the wire), so that in embedded mode the phases have no sample
// and no place in the breakdown.
func recordWire(rec *metrics.Recorder, op int, ph *core.Phases) {
	if ph.Wire > 0 {
		rec.Record(op, ph.Wire)
	}
}

func (consensusSuite) Prepare(_ context.Context, env Env) (Workload, error) {
	w := &consensusWorkload{db: env.DB, seed: env.Seed, elections: env.Replicas >= 3}
	w.timer = phaseTimer(env.DB)
	w.SetDataSize(env.DataSize)
	w.keys = make([]string, env.Keys)
	for i := range w.keys {
		w.keys[i] = "c/" + strconv.Itoa(i)
	}
	w.hist = newHistory(w.keys, defaultHistoryLimits)
	return w, nil
}

type consensusWorkload struct {
	db        DB
	payload   atomic.Pointer[[]byte]
	keys      []string
	seed      int64
	elections bool       // a shard can lose its leader and elect another
	hist      *history   // reads and writes of a sample of the keys
	timer     PhaseTimer // db, when it times phases; nil otherwise
}

// SetDataSize makes the values written from now on n bytes long. One
// payload is shared by every client: values are never mutated once
// written, and the core copies what it needs into the Raft log.
func (w *consensusWorkload) SetDataSize(n int) {
	p := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(w.seed), 0x70ace))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	w.payload.Store(&p)
}

func (w *consensusWorkload) Client(id int) Client {
	return &consensusClient{w: w, id: id, rng: rand.New(rand.NewPCG(uint64(w.seed), uint64(id)+1))}
}

type consensusClient struct {
	w    *consensusWorkload
	id   int
	rng  *rand.Rand
	n    int
	vals valueBuf    // unique values for the sampled keys' writes
	ph   core.Phases // the phases of the last call, filled by the db
}

// Do writes a random key. One time in readEvery it reads the key back
// linearizably; one time in readEvery it waits for the write to reach
// every replica instead.
//
// Writes and reads of a sampled key go in the history, each write with a
// value of its own.
func (c *consensusClient) Do(ctx context.Context, rec *metrics.Recorder) {
	i := c.rng.IntN(len(c.w.keys))
	key := c.w.keys[i]
	c.n++
	payload := *c.w.payload.Load()
	k := c.w.hist.key(i)
	var op *histOp
	if k >= 0 {
		var id uint64
		id, op = c.w.hist.begin(k, true, c.id)
		payload = c.vals.with(payload, id)
	}
	start := metrics.Now()
	if c.n%readEvery == readEvery/2 {
		err := c.w.db.PutReplicated(ctx, key, payload)
		endWrite(op, err)
		observe(ctx, rec, opReplicate, start, err)
		return
	}
	var err error
	if t := c.w.timer; t != nil {
		err = t.PutTimed(ctx, key, payload, &c.ph)
	} else {
		err = c.w.db.Put(ctx, key, payload)
	}
	endWrite(op, err)
	ok := observe(ctx, rec, opSubmit, start, err)
	if ok && c.w.timer != nil {
		recordRaftPhases(rec, opSubmitQueue, &c.ph)
	}
	if !ok || c.n%readEvery != 0 {
		return
	}
	if k >= 0 {
		_, op = c.w.hist.begin(k, false, c.id)
	}
	start = metrics.Now()
	var v []byte
	if t := c.w.timer; t != nil {
		v, err = t.GetTimed(ctx, key, &c.ph)
	} else {
		v, err = c.w.db.Get(ctx, key)
	}
	c.w.hist.endRead(k, op, v, err)
	if observe(ctx, rec, opRead, start, err) && c.w.timer != nil {
		rec.Record(opReadIndex, c.ph.ReadIndex)
		rec.Record(opReadApplyWait, c.ph.ApplyWait)
		recordWire(rec, opReadWire, &c.ph)
	}
}

// Check decides whether the sampled keys' history is linearizable.
func (w *consensusWorkload) Check(ctx context.Context, dir string) []metrics.Check {
	return []metrics.Check{w.hist.check(ctx, "consensus", dir)}
}

// observe records one op that began at start and reports whether it
// succeeded. An op cut short because the run ended is not recorded.
func observe(ctx context.Context, rec *metrics.Recorder, op int, start metrics.Stamp, err error) bool {
	d := start.Elapsed()
	switch {
	case err == nil:
		rec.Record(op, d)
		return true
	case ctx.Err() != nil:
		// The run ended while the op waited: not a failure of the cluster.
	default:
		rec.FailErr(op, errorKind(err), err)
	}
	return false
}

// Probe kills a shard leader every electionEvery, round robin over the
// shards, and records how long each election took as the core observed it,
// from the leader's loss to its successor's win. Elections the cluster holds
// on its own (a leader starved of CPU, say) are recorded too. With fewer
// than three replicas a shard cannot elect a new leader without the old
// one, so nothing is killed.
func (w *consensusWorkload) Probe(ctx context.Context, rec *metrics.Recorder) {
	_, cursor := w.db.Elections(0) // only elections from now on
	t := time.NewTicker(electionEvery)
	defer t.Stop()
	for shard := 0; ; shard = (shard + 1) % w.db.Shards() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.elections {
			// A kill the runner refused (another fault holds the shard,
			// or it would cost a quorum) is an event of its own, not a
			// failure of the cluster.
			if _, err := w.db.KillLeader(ctx, shard); err != nil && ctx.Err() == nil && !errors.Is(err, errFaultRefused) {
				rec.FailErr(opElection, errorKind(err), err)
			}
		}
		var evs []core.Election
		evs, cursor = w.db.Elections(cursor)
		for _, e := range evs {
			if e.Took > 0 {
				rec.Record(opElection, e.Took)
			}
		}
	}
}

package suites

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// The nemesis's pace: a fault comes after a quiet gap, is held a while,
// then undone, so the cluster recovers between faults. Both are drawn
// uniformly from [lo, hi) with the run's seed. Variables so that tests
// can run it faster.
var (
	nemesisGap  = [2]time.Duration{2 * time.Second, 5 * time.Second}
	nemesisHold = [2]time.Duration{1 * time.Second, 3 * time.Second}
)

// nemesisDelays are the one-way delays the delay fault picks from: ones
// the Raft timeouts keep a stable leader under.
var nemesisDelays = []time.Duration{1 * time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}

// nemesis injects random faults, one at a time, while any suite runs:
// kill a shard's leader (which recovers on its own), crash a node then
// restart it, partition one then heal, set a delay then clear it. Each
// fault and each undo goes through the same actions as --at and the TUI's
// keys, so each opens an epoch and shows as events. It only ever picks a
// node whose loss leaves every shard and the meta group a quorum, and its
// kills go through the per-shard fault serialisation. Only the runner's
// goroutine touches it.
type nemesis struct {
	faults []string
	rng    *rand.Rand
	timer  *time.Timer
	undo   *knob.Action // what undoes the fault in force; nil when none is
}

// newNemesis returns the nemesis for faults, seeded from seed, or nil when
// faults is empty.
func newNemesis(faults []string, seed int64) *nemesis {
	if len(faults) == 0 {
		return nil
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &nemesis{faults: slices.Clone(faults), rng: rand.New(rand.NewPCG(uint64(seed), 0x4e3e5)), timer: t}
}

// between draws a duration from [span[0], span[1]).
func (n *nemesis) between(span [2]time.Duration) time.Duration {
	return span[0] + time.Duration(n.rng.Int64N(int64(span[1]-span[0])+1))
}

// arm schedules the next step: the undo of the fault in force after its
// hold, or the next fault after a gap. A nil nemesis never fires.
func (n *nemesis) arm() {
	if n == nil {
		return
	}
	n.timer.Stop()
	if n.undo != nil {
		n.timer.Reset(n.between(nemesisHold))
	} else {
		n.timer.Reset(n.between(nemesisGap))
	}
}

// c is the channel the runner's loop waits on; nil (never ready) without
// a nemesis.
func (n *nemesis) c() <-chan time.Time {
	if n == nil {
		return nil
	}
	return n.timer.C
}

func (n *nemesis) stop() {
	if n != nil {
		n.timer.Stop()
	}
}

// plan picks the next fault from st: the action that injects it and the
// one that undoes it (nil for a kill, which undoes itself), or why it
// cannot be injected now. Nodes are drawn among those whose loss leaves
// every group a quorum of live replicas; delay is the delay to restore.
func (n *nemesis) plan(st core.Status, delay time.Duration) (do knob.Action, undo *knob.Action, err error) {
	switch kind := n.faults[n.rng.IntN(len(n.faults))]; kind {
	case knob.FaultKill:
		return knob.Action{Verb: knob.VerbKillLeader}, nil, nil
	case knob.FaultCrash, knob.FaultPartition:
		var ok []string
		for _, nd := range st.Nodes {
			if nd.Up && !nd.Partitioned && quorumLost(st, nd.ID) == "" {
				ok = append(ok, nd.ID)
			}
		}
		if len(ok) == 0 {
			return knob.Action{}, nil, fmt.Errorf("%s: no node can be lost without costing a shard or the meta group its quorum", kind)
		}
		node := ok[n.rng.IntN(len(ok))]
		if kind == knob.FaultCrash {
			return knob.Action{Verb: knob.VerbCrash, Node: node}, &knob.Action{Verb: knob.VerbRestart, Node: node}, nil
		}
		return knob.Action{Verb: knob.VerbPartition, Node: node}, &knob.Action{Verb: knob.VerbHeal}, nil
	case knob.FaultDelay:
		d := nemesisDelays[n.rng.IntN(len(nemesisDelays))]
		return knob.Action{Verb: knob.VerbNetDelay, Delay: delay + d}, &knob.Action{Verb: knob.VerbNetDelay, Delay: delay}, nil
	default:
		return knob.Action{}, nil, fmt.Errorf("unknown fault %q", kind)
	}
}

// nemesisStep runs the nemesis's next step on the running suite: undo the
// fault in force, or inject one, and arm the step after.
func (x *run) nemesisStep(sr *suiteRun) {
	n := x.nem
	if n.undo != nil {
		a := *n.undo
		n.undo = nil
		if err := x.applyBy(sr, a, "nemesis "); err != nil {
			x.event(metrics.EventError, fmt.Sprintf("nemesis: undoing with %s failed: %v", a, err))
		}
		n.arm()
		return
	}
	do, undo, err := n.plan(x.db.Status(), x.netDelay)
	if err == nil {
		err = x.applyBy(sr, do, "nemesis ")
	}
	if err != nil {
		x.event(metrics.EventFault, fmt.Sprintf("nemesis: %s skipped: %v", do, err))
	} else {
		n.undo = undo
	}
	n.arm()
}

// calmNemesis undoes the nemesis's fault in force, if any, as a suite's
// load ends: the suite's check and the next suite find the cluster whole
// (a restarted node still catching up).
func (x *run) calmNemesis(sr *suiteRun) {
	n := x.nem
	if n == nil {
		return
	}
	n.stop()
	if n.undo == nil {
		return
	}
	a := *n.undo
	n.undo = nil
	fault, err := actions[a.Verb](x, sr, &a)
	switch {
	case err != nil:
		x.event(metrics.EventError, fmt.Sprintf("nemesis: undoing with %s at the suite's end failed: %v", a, err))
	case fault != "":
		x.event(metrics.EventFault, "nemesis, at the suite's end: "+fault)
	}
}

package suites

import (
	"context"
	"fmt"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// settleTimeout bounds the wait for a settled cluster before each suite:
// past it the suite starts anyway, with an event saying what had not
// settled. A variable so that tests can shorten it.
var settleTimeout = 30 * time.Second

// settleLag is how many entries a live replica may trail its leader's
// commit index (or its own, in applying) and still count as caught up: an
// idle cluster reaches zero, but a heartbeat record may be in flight.
const settleLag = 2

// settleCalm is how many polls in a row must find the cluster settled: a
// leader elected a moment ago is not yet a settled one.
const settleCalm = 2

// unsettled says what keeps the cluster in st from being settled — a
// membership change under way, a node catching up after a restart, a
// shard without a leader, a live replica behind its leader — or returns
// "" when nothing does. nodes is the size the cluster should have.
// Replicas on a node that is down or cut off by a partition are left
// out: a fault the user left in place is not something to wait for.
func unsettled(st core.Status, nodes int) string {
	if nodes > 0 && len(st.Nodes) != nodes {
		return fmt.Sprintf("the cluster has %s, not its %d", plural(len(st.Nodes), "node"), nodes)
	}
	live := make(map[string]bool, len(st.Nodes))
	for _, n := range st.Nodes {
		live[n.ID] = n.Up && !n.Partitioned
		if live[n.ID] && n.State != "up" && n.State != "" {
			return fmt.Sprintf("%s is %s", n.ID, n.State)
		}
	}
	if len(st.Nodes) > 0 && st.MetaLeader == "" {
		return "the meta group has no leader"
	}
	for _, sh := range st.Shards {
		if sh.Leader == "" {
			return fmt.Sprintf("shard %d has no leader", sh.ID)
		}
		var commit uint64
		for _, r := range sh.Replicas {
			if r.Node == sh.Leader {
				commit = r.CommitIndex
			}
		}
		for _, r := range sh.Replicas {
			if !live[r.Node] {
				continue
			}
			if r.State == "shutdown" {
				return fmt.Sprintf("shard %d's replica on %s is not running", sh.ID, r.Node)
			}
			behind := max(commit, r.CommitIndex) - r.AppliedIndex
			if commit > r.CommitIndex {
				behind = max(behind, commit-r.CommitIndex)
			}
			if behind > settleLag {
				return fmt.Sprintf("shard %d's replica on %s is %d entries behind", sh.ID, r.Node, behind)
			}
		}
	}
	return ""
}

// settle waits, before a suite's load, until the cluster has settled: the
// previous suite's membership changes finished and the cluster back at its
// configured size (nodes a suite left behind are removed here), a leader
// for every shard, every live replica caught up. The wait publishes
// snapshots in the settling phase, records no op and runs no suite's
// clock; an event says how long it took, or, past settleTimeout, what had
// not settled. It returns early, silently, when ctx ends.
func (x *run) settle(ctx context.Context, before string) {
	begun := time.Now()
	deadline := begun.Add(settleTimeout)
	ticker := time.NewTicker(x.cfg.Tick)
	defer ticker.Stop()
	calm := 0
	for {
		st := x.db.Status()
		why := unsettled(st, x.targetNodes)
		// Only before the deadline: a removal that keeps failing (a node
		// that died on its own) must not hold the run here for good.
		if len(st.Nodes) > x.targetNodes && x.resizing.Load() == 0 && time.Now().Before(deadline) {
			// A suite left nodes behind (the cluster suite's churn cut
			// short by its end): take them out now, off every figure.
			x.event(metrics.EventMembership, fmt.Sprintf("settling before %s: removing %s a suite left behind", before, plural(len(st.Nodes)-x.targetNodes, "node")))
			rctx, cancel := context.WithDeadline(ctx, deadline)
			x.resize(rctx, x.db, x.targetNodes)
			cancel()
			x.events.flush(x.elapsed)
			continue
		}
		if why == "" {
			calm++
		} else {
			calm = 0
		}
		took := time.Since(begun).Round(time.Millisecond)
		switch {
		case calm >= settleCalm:
			x.event(metrics.EventInfo, fmt.Sprintf("cluster settled before %s in %v", before, took))
			x.tick(time.Now(), metrics.PhaseSettling)
			return
		case time.Now().After(deadline):
			x.event(metrics.EventError, fmt.Sprintf("cluster not settled before %s after %v: %s; the suite starts anyway", before, took, why))
			x.tick(time.Now(), metrics.PhaseSettling)
			return
		}
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			x.tick(now, metrics.PhaseSettling)
		}
	}
}

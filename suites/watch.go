package suites

import (
	"fmt"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// clusterWatch follows the cluster for the snapshots: its nodes and shards
// as the front ends show them, each shard's leader, and the elections the
// database logged, so that a leader change can say how long the shard went
// without one. Only the runner's goroutine touches it.
type clusterWatch struct {
	leaders     map[int]string        // each shard's leader as last seen
	elected     map[int]core.Election // each shard's latest election record
	electionSeq uint64                // where the next read of the election log starts
	last        metrics.Cluster       // the cluster as it last was, shown after shutdown
	fresh       []core.Election       // read by poll, not yet taken
}

// takeElections returns the elections polls have read since the last
// call, for counting.
func (w *clusterWatch) takeElections() []core.Election {
	evs := w.fresh
	w.fresh = nil
	return evs
}

// poll reads the cluster's status and returns the view of it, and a line
// for each shard whose leader changed since the last poll. With db nil
// (the cluster shut down, or not yet started) it returns the last view.
func (w *clusterWatch) poll(db DB) (metrics.Cluster, []string) {
	if db == nil {
		return w.last, nil
	}
	st := db.Status()
	v := metrics.Cluster{LeaderChanges: st.LeaderChanges}
	for _, n := range st.Nodes {
		v.Nodes = append(v.Nodes, metrics.Node{ID: n.ID, Up: n.Up, Replicas: n.Replicas, Leaderships: n.Leaderships,
			State: n.State, Partitioned: n.Partitioned})
	}
	if w.leaders == nil {
		w.leaders = map[int]string{}
		w.elected = map[int]core.Election{}
	}
	// The election log says how long each shard went without a leader;
	// keep each shard's latest record for the change the status poll sees,
	// which may come a tick before or after it.
	var elections []core.Election
	elections, w.electionSeq = db.Elections(w.electionSeq)
	for _, e := range elections {
		w.elected[e.Shard] = e
	}
	w.fresh = append(w.fresh, elections...)
	var changes []string
	for _, sh := range st.Shards {
		v.Shards = append(v.Shards, shardView(sh))
		if prev, ok := w.leaders[sh.ID]; ok && prev != sh.Leader && sh.Leader != "" {
			changes = append(changes, leaderChange(sh, w.elected[sh.ID]))
		}
		if sh.Leader != "" {
			w.leaders[sh.ID] = sh.Leader
		}
	}
	w.last = v
	return v, changes
}

// shardView is a shard as the front ends show it: its commit index is the
// highest of its live replicas', and its lag how far the slowest of them
// trails it in applying.
func shardView(sh core.ShardStatus) metrics.Shard {
	var minApplied, commit, uncommitted uint64
	for i, rep := range sh.Replicas {
		if rep.State == "shutdown" {
			continue
		}
		if rep.State == "leader" && rep.LastIndex > rep.CommitIndex {
			uncommitted = rep.LastIndex - rep.CommitIndex // appends in flight
		}
		commit = max(commit, rep.CommitIndex)
		if i == 0 || rep.AppliedIndex < minApplied {
			minApplied = rep.AppliedIndex
		}
	}
	lag := uint64(0)
	if commit > minApplied {
		lag = commit - minApplied
	}
	return metrics.Shard{ID: sh.ID, Leader: sh.Leader, Term: sh.Term, CommitIndex: commit, MaxLag: lag, Uncommitted: uncommitted}
}

// leaderChange describes shard sh's new leader, with how long the shard
// went without one when e, the shard's latest election record, is of this
// change.
func leaderChange(sh core.ShardStatus, e core.Election) string {
	if e.To == sh.Leader && e.Term == sh.Term && e.Took > 0 {
		took := e.Took.Round(time.Millisecond) // "94ms", as a person says it
		if e.Took < time.Millisecond {
			took = e.Took.Round(time.Microsecond)
		}
		return fmt.Sprintf("shard %d leader → %s in %v (term %d)", sh.ID, sh.Leader, took, sh.Term)
	}
	return fmt.Sprintf("shard %d leader → %s (term %d)", sh.ID, sh.Leader, sh.Term)
}

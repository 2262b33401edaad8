package suites

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/phantomdb/phantom/core"
)

// The faults that act on a node (crash, restart, partition) resolve it
// here, from one Status read on the runner's goroutine: a named node must
// exist, and an unnamed one is picked so that the fault hurts — the node
// leading the most shards, whose loss forces the most elections.

// crashTarget is the node a crash takes down, and why it was picked when
// id is "". It refuses a crash that would leave a shard, or the meta
// group, without a quorum of live replicas: the load would stall on it
// until a restart, which is a different experiment from a fault the
// cluster survives.
func crashTarget(st core.Status, id string) (node, why string, err error) {
	if id != "" {
		n, err := lookupNode(st, id)
		if err != nil {
			return "", "", err
		}
		if !n.Up {
			return "", "", fmt.Errorf("%s is crashed already; bring it back with restart=%s", id, id)
		}
		if lost := quorumLost(st, id); lost != "" {
			return "", "", fmt.Errorf("crashing %s would leave %s without a quorum; restart a crashed node or heal first", id, lost)
		}
		return id, "", nil
	}
	cands := byLeaderships(st, func(n core.NodeStatus) bool { return n.Up })
	if len(cands) == 0 {
		return "", "", fmt.Errorf("every node is crashed already; nothing to crash")
	}
	for _, n := range cands {
		if quorumLost(st, n.ID) == "" {
			return n.ID, picked(n), nil
		}
	}
	return "", "", fmt.Errorf("crashing another node would leave %s without a quorum", quorumLost(st, cands[0].ID))
}

// partitionTarget is the node a partition cuts off, and why it was picked
// when id is "". A named node may cost a quorum: partitioning it is the
// way to see what the cluster does without one, and heal undoes it. A
// node the runner picks never does: what phantom does on its own leaves
// every shard a quorum.
func partitionTarget(st core.Status, id string) (node, why string, err error) {
	if id != "" {
		if _, err := lookupNode(st, id); err != nil {
			return "", "", err
		}
		return id, "", nil
	}
	cands := byLeaderships(st, func(n core.NodeStatus) bool { return n.Up && !n.Partitioned })
	if len(cands) == 0 {
		return "", "", fmt.Errorf("every node is crashed or partitioned already; nothing to partition")
	}
	for _, n := range cands {
		if quorumLost(st, n.ID) == "" {
			return n.ID, picked(n), nil
		}
	}
	return "", "", fmt.Errorf("partitioning another node would leave %s without a quorum; name one to partition it anyway", quorumLost(st, cands[0].ID))
}

// restartTargets are the nodes a restart brings back: the named one, or
// every crashed node when id is "".
func restartTargets(st core.Status, id string) ([]string, error) {
	if id != "" {
		n, err := lookupNode(st, id)
		if err != nil {
			return nil, err
		}
		if n.Up {
			return nil, fmt.Errorf("%s is up; restart brings back a crashed node", id)
		}
		return []string{id}, nil
	}
	var ids []string
	for _, n := range st.Nodes {
		if !n.Up {
			ids = append(ids, n.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no node is crashed; nothing to restart")
	}
	return ids, nil
}

func lookupNode(st core.Status, id string) (core.NodeStatus, error) {
	ids := make([]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		if n.ID == id {
			return n, nil
		}
		ids = append(ids, n.ID)
	}
	return core.NodeStatus{}, fmt.Errorf("there is no node %s; the cluster has %s", id, strings.Join(ids, ", "))
}

// byLeaderships lists the nodes that pass ok, those leading the most
// shards first, in node order among equals.
func byLeaderships(st core.Status, ok func(core.NodeStatus) bool) []core.NodeStatus {
	var out []core.NodeStatus
	for _, n := range st.Nodes {
		if ok(n) {
			out = append(out, n)
		}
	}
	slices.SortStableFunc(out, func(a, b core.NodeStatus) int { return cmp.Compare(b.Leaderships, a.Leaderships) })
	return out
}

func picked(n core.NodeStatus) string {
	return fmt.Sprintf(" (picked by the runner: it led %d of the shards)", n.Leaderships)
}

// quorumLost names the first group — "shard 2", or "the meta group" —
// that crashing node id would leave without a quorum of live replicas, or
// returns "". A replica is live when it runs on a node that is up and not
// partitioned off. A node whose replica of a group is not live already
// costs that group nothing more.
func quorumLost(st core.Status, id string) string {
	live := make(map[string]bool, len(st.Nodes))
	for _, n := range st.Nodes {
		live[n.ID] = n.Up && !n.Partitioned
	}
	// loses reports whether a group of voters, liveNow of them live,
	// falls below a quorum of live ones once id is down.
	loses := func(voters int, liveNow int, idLive bool) bool {
		return idLive && liveNow-1 < voters/2+1
	}
	for _, sh := range st.Shards {
		liveNow, idLive := 0, false
		for _, r := range sh.Replicas {
			if r.State != "shutdown" && live[r.Node] {
				liveNow++
				idLive = idLive || r.Node == id
			}
		}
		if loses(len(sh.Replicas), liveNow, idLive) {
			return fmt.Sprintf("shard %d", sh.ID)
		}
	}
	var metaVoters, metaLive int
	var metaID bool
	for _, n := range st.Nodes {
		if n.Meta {
			metaVoters++
			if live[n.ID] {
				metaLive++
				metaID = metaID || n.ID == id
			}
		}
	}
	if loses(metaVoters, metaLive, metaID) {
		return "the meta group"
	}
	return ""
}

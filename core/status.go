package core

// Status is a point-in-time view of the cluster for display. Building it
// reads only atomics and cheap raft getters, never raft's Stats map, so it
// can be polled several times a second under load.
type Status struct {
	Nodes  []NodeStatus
	Shards []ShardStatus

	// LeaderChanges is how many times a shard got a new leader since the
	// cluster started, summed over shards and counted from raft observers as
	// elections happen (not by polling, which would miss quick successions).
	// The first election of each shard counts.
	LeaderChanges uint64
}

// NodeStatus describes one node.
type NodeStatus struct {
	ID          string // "n1", "n2", ...
	Addr        string // 127.0.0.1:port of its Raft transport, "" when it hosts no replica
	Up          bool   // false once CrashNode (StopNode) or Close stopped it, true again after RestartNode
	Replicas    int    // replicas it hosts
	Leaderships int    // shards it leads
}

// ShardStatus describes one shard's Raft group.
type ShardStatus struct {
	ID       int
	Leader   string // node id of the leader, "" while there is none
	Term     uint64 // the leader's term, or the highest term any replica has reached while there is no leader
	Replicas []ReplicaStatus
}

// ReplicaStatus describes one replica of a shard. CommitIndex minus
// AppliedIndex is how far its state machine lags; the leader's CommitIndex
// minus a follower's is how far replication lags.
type ReplicaStatus struct {
	Node         string
	State        string // "leader", "follower", "candidate" or "shutdown"
	CommitIndex  uint64 // last log index known to be committed
	AppliedIndex uint64 // last log index handed to the state machine
	LastIndex    uint64 // last log index stored, committed or not
}

// Status returns the cluster's current state. After Close it still answers,
// with every node down.
func (c *Cluster) Status() Status {
	st := Status{
		Nodes:  make([]NodeStatus, len(c.nodes)),
		Shards: make([]ShardStatus, len(c.shards)),
	}
	for i, n := range c.nodes {
		st.Nodes[i] = NodeStatus{ID: n.id, Addr: n.addr(), Up: n.up.Load(), Replicas: len(n.seats)}
	}
	for i, sh := range c.shards {
		ss, leader := sh.status()
		st.Shards[i] = ss
		if leader != nil {
			st.Nodes[leader.node.index].Leaderships++
		}
		st.LeaderChanges += sh.leaderChanges.Load()
	}
	return st
}

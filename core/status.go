package core

import "time"

// Status is a point-in-time view of the cluster for display. Building it
// reads only atomics and cheap raft getters, never raft's Stats map, so it
// can be polled several times a second under load.
type Status struct {
	Nodes  []NodeStatus
	Shards []ShardStatus

	// MetaLeader is the node leading the meta group, "" while it has none.
	MetaLeader string

	// LeaderChanges is how many times a shard got a new leader since the
	// cluster started, summed over shards and counted from raft observers as
	// elections happen (not by polling, which would miss quick successions).
	// The first election of each shard counts.
	LeaderChanges uint64

	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are the
	// raft timeouts every group runs with now: Config's, grown with the
	// network's worst round trip (see SetAllLinks and Config.NetDelay).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
}

// NodeStatus describes one node.
type NodeStatus struct {
	ID          string // "n1", "n2", ...
	Addr        string // 127.0.0.1:port of its Raft transport, "" when it hosts no replica
	Up          bool   // false once CrashNode or Close stopped it, true again after RestartNode
	Replicas    int    // shard replicas it hosts, the meta group's not counted
	Leaderships int    // shards it leads

	// State is the node's health as the meta group records it: "up",
	// "suspect" or "down" (see Config.SuspectAfter and DownAfter), or
	// "joining" before AddNode has registered it. Read from the meta
	// leader's state machine, or a follower's while there is no leader.
	State string

	// HeartbeatAge is how long ago the meta leader last heard the node's
	// heartbeat; zero while the meta group has no leader.
	HeartbeatAge time.Duration

	// Meta reports whether the node hosts a voter of the meta group.
	Meta bool

	// Partitioned reports whether Partition has cut the node off from the
	// others and no Heal has ended it yet. It is the network's state, not
	// the node's: a partitioned node keeps running (Up stays true), and
	// the meta group notices only when its heartbeats stop arriving.
	Partitioned bool
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

// Status returns the cluster's current state, the cluster.status query:
// node health comes from the meta group's state machine (a local read on
// its leader, no Raft round), the rest from atomics and cheap raft getters.
// After Close it still answers, with every node down.
func (c *Cluster) Status() Status {
	c.topo.RLock()
	nodes := append([]*node(nil), c.nodes...)
	c.topo.RUnlock()
	st := Status{
		Nodes:  make([]NodeStatus, len(nodes)),
		Shards: make([]ShardStatus, len(c.shards)),
	}
	if t := c.timeouts.Load(); t != nil {
		st.HeartbeatTimeout, st.ElectionTimeout, st.LeaderLeaseTimeout = t.heartbeat, t.election, t.lease
	}
	var metaRep *replica
	if c.meta != nil {
		var leads bool
		metaRep, leads = c.metaReader()
		if leads {
			st.MetaLeader = metaRep.node.id
		}
	}
	now := time.Now()
	var cut []bool
	if c.nw != nil {
		cut = c.nw.Partitioned()
	}
	pos := make(map[*node]int, len(nodes))
	for i, n := range nodes {
		pos[n] = i
		ns := NodeStatus{ID: n.id, Addr: n.addr(), Up: n.up.Load(), State: stateJoining, HeartbeatAge: c.det.age(n.id, now)}
		ns.Partitioned = n.index < len(cut) && cut[n.index]
		for _, seat := range n.seats() {
			if seat.shard.id == metaShardID {
				ns.Meta = true
			} else {
				ns.Replicas++
			}
		}
		if rec, ok := readMetaNode(metaRep, n.id); ok {
			ns.State = rec.State
		}
		st.Nodes[i] = ns
	}
	for i, sh := range c.shards {
		ss, leader := sh.status()
		st.Shards[i] = ss
		if leader != nil {
			if p, ok := pos[leader.node]; ok {
				st.Nodes[p].Leaderships++
			}
		}
		st.LeaderChanges += sh.leaderChanges.Load()
	}
	return st
}

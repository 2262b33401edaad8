package core

// NodeTraffic is the bytes one node of an embedded cluster has sent and
// received over its Raft links: what its stream layers wrote to and read
// from their connections, counted by the cluster's simulated network.
// Operating systems keep no per-thread network counters, so this is the
// only per-node network figure a cluster inside one process has.
type NodeTraffic struct {
	ID string
	// Up is NodeStatus.Up: false while the node is crashed (it sends
	// nothing then) and after Close.
	Up bool
	// Sent and Recv count from the node's joining the cluster: from 0 for
	// the nodes NewCluster started and for a node AddNode added, even in
	// a network slot a removed node held. A node crashed and restarted
	// keeps counting where it was, never going back.
	Sent, Recv uint64
}

// AppendTraffic appends every node's traffic to dst, in Status's node
// order, and returns the slice. ok is false, and nothing is appended, when
// the cluster counts no traffic of its nodes: its nodes are processes of
// their own (Config.Launcher), which count theirs themselves, or it has
// been closed.
//
// It reads two atomics per node under the topology's read lock and
// allocates nothing once dst has room, so a caller may poll it every tick
// for dozens of nodes; counting costs the Raft path one atomic add per
// read or write, as it did before anyone asked.
func (c *Cluster) AppendTraffic(dst []NodeTraffic) (out []NodeTraffic, ok bool) {
	if c.remoteMode() || c.closed.Load() {
		return dst, false
	}
	c.topo.RLock()
	defer c.topo.RUnlock()
	for _, n := range c.nodes {
		t := c.nw.Traffic(n.index)
		if t == nil {
			continue
		}
		dst = append(dst, NodeTraffic{ID: n.id, Up: n.up.Load(), Sent: t.Sent() - n.baseSent, Recv: t.Recv() - n.baseRecv})
	}
	return dst, true
}

// Package core is the embedded PhantomDB core: nodes, Raft-replicated shards,
// client API. Knows nothing about load testing.
//
// A Cluster runs N nodes in one process. Each shard is its own
// hashicorp/raft group whose replicas live on different nodes and talk real
// Raft over TCP on the loopback interface, through a stream layer the core
// owns, so that data size has a real cost and the network can later be shaped.
// Clients call Put and Get with a context; the calls find the shard's leader
// and retry across elections until the context's deadline.
//
// Keys are hash-partitioned (FNV-1a) over Config.Shards shards, each with
// min(3, nodes) replicas placed round-robin and leaderships balanced after
// start; every replica listens on its own loopback port. The stream layer
// shapes traffic per directed node pair (delay, jitter, loss) and
// partitions nodes (SetLink, SetAllLinks, Partition, Heal). Faults:
// CrashNode, RestartNode over the same stores, KillLeader, TransferLeader;
// raft observers record every election with how long it took (Elections).
// Followers that see a crashed leader's connections close elect a successor
// without waiting for raft's random timers (failover.go).
//
// A meta group, one more Raft group of min(3, nodes) voters, holds
// membership, node health and placement (meta.go). Every node heartbeats to
// its leader (Heartbeat), whose failure detector marks nodes suspect and
// down through the meta log; Status reports it. AddNode and RemoveNode
// change membership live, moving replicas with add-then-remove
// configuration changes (membership.go).
package core

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
// This slice runs a single shard with replication factor min(3, nodes);
// hash partitioning over several shards, the meta group and network shaping
// are to come, and the types (node, shard, replica, streamLayer) are shaped
// for them.
package core

// Package core is the embedded PhantomDB core: nodes, Raft-replicated shards,
// client API. Knows nothing about load testing.
//
// A Cluster runs N nodes in one process. Each shard is its own
// hashicorp/raft group whose replicas live on different nodes and talk real
// Raft over TCP on the loopback interface, through a stream layer the core
// owns, so that data size has a real cost and the network can be shaped.
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
// Followers that see a crashed leader's connections close, and find its
// address refusing dials, elect a successor at once, without waiting out
// the heartbeat timeout or raft's random timers (failover.go).
//
// Three seams are internal packages. core/internal/netsim is the network:
// links, partitions and the stream layer each replica's raft transport
// runs on, which tells the replica when a peer closes a connection and
// counts each node's bytes (AppendTraffic: per-node network, which the OS
// cannot give for nodes sharing one process).
// core/internal/wire is that transport: raft's NetworkTransport semantics
// with a binary encoding of its own, and a fence that refuses a gone
// leader's late appends while a follower stands. core/internal/transport wraps it:
// replication pipelined
// only over slow links, with a window of bytes in flight, pipelines that
// cannot wedge, votes asked again on
// a fresh connection, and a refused pre-vote asked again when fast
// failover says so, through its Hooks interface, which the replica
// implements. The state machine (fsm.go, txnfsm.go) is read through its
// own methods: the query scan (query.go) calls fsm.scan per row under the
// state machine's lock, and the planner and merger are pure. Test hooks
// are one value, testHooks (hooks.go), set only from export_test.go.
//
// Transactions (txn.go, txnfsm.go) are two-phase commit over the shards'
// Raft groups: prepare locks keys and stores intents in each participant's
// state machine, the coordinator shard writes the decision record and its
// own writes in one command, and a finish applies or drops the intents.
// An acknowledged commit is visible to every later linearizable read on
// every participant, whatever fails after the decision: readers (Get,
// Query's scans, SumInts) that meet a lock ask its decision record and
// finish a decided transaction before answering, as Percolator and
// CockroachDB resolve intents. The other way, Txn returning only once
// every participant applied the commit, was not taken: a participant cut
// off after the coordinator acknowledged would still serve its old value,
// so readers would have to check locks anyway, and every transaction would
// pay for the slowest participant. Put respects locks the same way: a put
// to a locked key settles the lock from the decision record, or waits for
// an undecided one, so it is never overwritten by an older intent.
//
// Records are bounded: each shard's state machine keeps a clock taken
// from its commands (the same on every replica); a transaction must
// decide within its prepare window (Config.TxnLockTimeout), after which a
// missing decision record means abort for good. A commit record stays
// while any participant may hold its lock, then, like an abort record, for
// Config.TxnRecordRetention, so that TxnOutcome can answer a client that
// lost the answer; records of transactions whose client got the answer go
// at once. Saga step records go a retention after they were written, or at
// once when their saga ended with every command answered. ResolveLocks is
// the recovery: it resolves expired locks and finishes the commits their
// coordinators left unfinished.
//
// A meta group, one more Raft group of min(3, nodes) voters, holds
// membership, node health and placement (meta.go). Every node heartbeats to
// its leader (Heartbeat), whose failure detector marks nodes suspect and
// down through the meta log; Status reports it. AddNode and RemoveNode
// change membership live, moving replicas with add-then-remove
// configuration changes (membership.go).
package core

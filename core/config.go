package core

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// MaxNodes is the largest cluster NewCluster builds. Past it an in-process
// cluster spends more of the machine on Raft heartbeats than on the load it
// is there to carry.
const MaxNodes = 100

// MaxShards is the most shards a cluster may have.
const MaxShards = 256

// minRaftTimeout is the floor hashicorp/raft's ValidateConfig puts under its
// heartbeat, election, lease and snapshot timings; checking it here lets
// Validate name the field in the user's words instead of raft's.
const minRaftTimeout = 5 * time.Millisecond

// Config sets up a Cluster. Start from DefaultConfig: the zero value is not
// valid.
type Config struct {
	// Nodes is how many nodes the cluster starts with, from 1 to MaxNodes.
	// Each shard has min(3, Nodes) replicas.
	Nodes int

	// Shards is how many shards keys are hash-partitioned into, from 1 to
	// MaxShards; 0 means one per node. Each shard is its own Raft group.
	// It stays fixed for the cluster's life.
	Shards int

	// HeartbeatTimeout is how long a follower goes without hearing from its
	// leader before it stands for election. Raft's one-second default suits
	// real networks; on loopback 50 milliseconds replaces a crashed leader
	// quickly without spurious elections. At least 5 milliseconds. It, the
	// election timeout and the leader lease are for a network with no
	// delay: raft runs with them grown by the network's round trip
	// (timeouts.go), and Status shows the values in force.
	HeartbeatTimeout time.Duration

	// ElectionTimeout is how long a candidate waits for votes before it
	// starts another election. At least HeartbeatTimeout.
	ElectionTimeout time.Duration

	// LeaderLeaseTimeout is how long a leader keeps leading without hearing
	// from a quorum. At most HeartbeatTimeout, so that a cut-off leader steps
	// down before its followers can elect a new one. At least 5 milliseconds.
	LeaderLeaseTimeout time.Duration

	// CommitTimeout is how long an idle leader waits before telling followers
	// the latest commit index, which bounds how far an idle follower's state
	// lags. At least 1 millisecond. Like the timeouts above, it grows on a
	// cluster with many replicas per core (timeouts.go).
	CommitTimeout time.Duration

	// NetDelay is a one-way delay on every link between nodes from the
	// start, as SetAllLinks(Link{Delay: NetDelay}) would set it once the
	// cluster runs, except that the replicas start with raft's timeouts
	// grown for it (see SetAllLinks). 0, the default, shapes nothing;
	// never negative.
	NetDelay time.Duration

	// EntryBytes is the largest value the cluster is expected to write,
	// as SetEntryBytes would set it once the cluster runs: raft's timeouts
	// grow by the time a replica needs to take in an entry that large
	// (timeouts.go). 0, the default, is small values.
	EntryBytes int

	// OpTimeout is the deadline of a client call whose context has none; a
	// call retries leader changes until then. Must be positive.
	OpTimeout time.Duration

	// SnapshotInterval is how often each replica checks whether it should
	// snapshot its state and compact its log. Raft fires the check at a
	// random point between one and two intervals so replicas do not all
	// snapshot at once. At least 5 milliseconds.
	SnapshotInterval time.Duration

	// SnapshotThreshold is how many log entries must pile up since the last
	// snapshot before a replica takes another. With TrailingLogs it bounds
	// the memory the in-memory Raft log holds. At least 1 log entry.
	SnapshotThreshold uint64

	// TrailingLogs is how many log entries a replica keeps after a snapshot,
	// so that a follower a little behind catches up from the log rather than
	// being sent the whole snapshot.
	TrailingLogs uint64

	// MaxAppendEntries caps how many log entries go in one AppendEntries
	// message. With large values a smaller batch keeps each message short
	// enough that heartbeats and acknowledgements are not stuck behind it.
	// From 1 to 1024.
	MaxAppendEntries int

	// MaxNodes is the most nodes the cluster may grow to with AddNode, from
	// Nodes to MaxNodes (the package constant); 0 means the constant. It
	// also sizes the network's link table.
	MaxNodes int

	// HeartbeatInterval is how often every node reports to the meta group's
	// leader that it is alive, for example 100 * time.Millisecond. Must be
	// positive.
	HeartbeatInterval time.Duration

	// TxnLockTimeout is how old a transaction's lock must be before
	// whoever meets it may resolve it: look up its decision record and
	// commit, or write an abort decision (the first decision wins) and
	// abort. It bounds how long a coordinator that died between prepare and
	// decision keeps keys locked. 0 means 1 * time.Second; never negative.
	TxnLockTimeout time.Duration

	// SuspectAfter is how long the meta leader goes without a node's
	// heartbeat before it marks the node suspect. Longer than
	// HeartbeatInterval.
	SuspectAfter time.Duration

	// DownAfter is how long the meta leader goes without a node's heartbeat
	// before it marks the node down. At least SuspectAfter.
	DownAfter time.Duration

	// Storage is where replicas keep their Raft log, term, vote and
	// snapshots: StorageMemory ("memory", the default; "" means it too) or
	// StorageDisk ("disk": an fsync'd log and snapshot files under DataDir,
	// one directory per replica, reopened by RestartNode). See storage.go.
	Storage string

	// Links is what carries Raft's traffic between the replicas of nodes
	// in this process: LinksUnix ("unix", the default where the system has
	// them; "" means the default), Unix-domain stream sockets, or LinksTCP
	// ("tcp"), TCP on 127.0.0.1. Both are real kernel byte streams, shaped,
	// cut and counted alike by the network simulation; TCP adds loopback's
	// IP stack to every message (see netsim.FreshUnix). Nodes in processes
	// of their own always use TCP, since their peers may be on other hosts.
	Links string

	// DataDir is where disk storage puts its files. Empty means a temporary
	// directory that NewCluster makes and Close removes; a given directory
	// must be empty or missing, and Close leaves it. Ignored in memory mode.
	DataDir string

	// LogOutput receives Raft's log lines; nil discards them. Raft's own
	// default logger writes to stderr, which would corrupt a terminal UI, so
	// the core always gives Raft a logger of its own.
	LogOutput io.Writer `json:"-"`

	// Launcher, when set, runs the cluster's replicas in node processes
	// it starts or reaches (remote.go); nil keeps them in this process.
	Launcher NodeLauncher `json:"-"`

	// TxnRecordRetention is how long a shard keeps a transaction's
	// decision record once nothing needs it for correctness (every lock of
	// the transaction is gone and its prepare window, TxnLockTimeout, has
	// closed), so that TxnOutcome can still answer a client that lost the
	// answer; saga step records are kept as long after their command. It
	// must outlast the longest saga. 0 means 1 * time.Minute.
	TxnRecordRetention time.Duration

	// timeScale is how much NewCluster grew raft's timeouts for the
	// replicas each core runs (loadScale, timeouts.go); 0 before.
	timeScale float64
}

// DefaultConfig returns the settings for an embedded cluster of three nodes:
// Raft timings short enough for loopback, and snapshots frequent enough to
// keep the in-memory logs small on long runs with large values.
func DefaultConfig() Config {
	return Config{
		Nodes:              3,
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		OpTimeout:          5 * time.Second,
		SnapshotInterval:   1 * time.Second,
		SnapshotThreshold:  1024,
		TrailingLogs:       256,
		MaxAppendEntries:   64,
		Storage:            StorageMemory,
		MaxNodes:           MaxNodes,
		HeartbeatInterval:  100 * time.Millisecond,
		TxnLockTimeout:     1 * time.Second,
		SuspectAfter:       300 * time.Millisecond,
		DownAfter:          1 * time.Second,
		TxnRecordRetention: 1 * time.Minute,
	}
}

// Validate reports every problem with c, one sentence each, or nil.
// NewCluster calls it.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("core: "+format, args...))
	}
	atLeast := func(name string, d, floor time.Duration) {
		if d < floor {
			bad("%s must be at least %v, got %v", name, floor, d)
		}
	}

	if c.Nodes < 1 || c.Nodes > MaxNodes {
		bad("nodes must be between 1 and %d, got %d", MaxNodes, c.Nodes)
	}
	if c.Shards < 0 || c.Shards > MaxShards {
		bad("shards must be between 1 and %d, or 0 for one per node, got %d", MaxShards, c.Shards)
	}
	atLeast("heartbeat timeout", c.HeartbeatTimeout, minRaftTimeout)
	atLeast("election timeout", c.ElectionTimeout, minRaftTimeout)
	atLeast("leader lease timeout", c.LeaderLeaseTimeout, minRaftTimeout)
	atLeast("commit timeout", c.CommitTimeout, time.Millisecond)
	atLeast("snapshot interval", c.SnapshotInterval, minRaftTimeout)
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("election timeout (%v) must not be shorter than the heartbeat timeout (%v)", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("leader lease timeout (%v) must not be longer than the heartbeat timeout (%v)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
		bad("max append entries must be between 1 and 1024, got %d", c.MaxAppendEntries)
	}
	if c.NetDelay < 0 {
		bad("net delay must not be negative, got %v", c.NetDelay)
	}
	if c.OpTimeout <= 0 {
		bad("op timeout must be positive, got %v", c.OpTimeout)
	}
	if c.SnapshotThreshold < 1 {
		bad("snapshot threshold must be at least 1 log entry, got 0")
	}
	if c.MaxNodes != 0 && (c.MaxNodes < c.Nodes || c.MaxNodes > MaxNodes) {
		bad("max nodes must be between nodes (%d) and %d, or 0 for %d, got %d", c.Nodes, MaxNodes, MaxNodes, c.MaxNodes)
	}
	if c.HeartbeatInterval <= 0 {
		bad("heartbeat interval must be positive, got %v", c.HeartbeatInterval)
	}
	if c.TxnLockTimeout < 0 {
		bad("txn lock timeout must not be negative, got %v", c.TxnLockTimeout)
	}
	if c.SuspectAfter <= c.HeartbeatInterval {
		bad("suspect-after (%v) must be longer than the heartbeat interval (%v)", c.SuspectAfter, c.HeartbeatInterval)
	}
	if c.DownAfter < c.SuspectAfter {
		bad("down-after (%v) must not be shorter than suspect-after (%v)", c.DownAfter, c.SuspectAfter)
	}
	if err := c.validateStorage(); err != nil {
		errs = append(errs, err)
	}
	switch c.Links {
	case "", LinksTCP:
	case LinksUnix:
		if !netsim.UnixLinks {
			bad("links %q need abstract Unix sockets, which only Linux has; use %q", LinksUnix, LinksTCP)
		}
	default:
		bad("links must be %q or %q, got %q", LinksUnix, LinksTCP, c.Links)
	}
	return errors.Join(errs...)
}

// The kinds of Config.Links.
const (
	LinksUnix = "unix"
	LinksTCP  = "tcp"
)

// freshAddr is the address a new replica in this process listens on, as
// Config.Links says.
func (c Config) freshAddr() string {
	if c.Links == LinksTCP || (c.Links == "" && !netsim.UnixLinks) {
		return netsim.FreshTCP
	}
	return netsim.FreshUnix
}

// maxNodes is MaxNodes with 0 resolved to the package constant.
func (c Config) maxNodes() int {
	if c.MaxNodes == 0 {
		return MaxNodes
	}
	return c.MaxNodes
}

// shardCount is Shards with 0 resolved to one per node.
func (c Config) shardCount() int {
	if c.Shards == 0 {
		return c.Nodes
	}
	return c.Shards
}

// txnLockTimeout is TxnLockTimeout with 0 resolved to its default.
func (c Config) txnLockTimeout() time.Duration {
	if c.TxnLockTimeout == 0 {
		return time.Second
	}
	return c.TxnLockTimeout
}

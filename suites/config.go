package suites

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Config is everything a run needs. Zero fields take DefaultConfig's values
// only where New says so; Validate rejects the rest.
type Config struct {
	Profile  string        // the profile the settings came from, for reports; may be empty
	Suites   []string      // suite names, run in this order
	Nodes    int           // cluster nodes
	Shards   int           // Raft groups keys are hash-partitioned over; 0 means one per node
	NetDelay time.Duration // one-way delay added to every link between nodes
	Storage  string        // "memory" or "disk" (fsync'd Raft logs in a temporary directory)
	// Cluster is where the nodes run: ClusterEmbedded ("embedded", the
	// default; "" means it too), ClusterProcesses ("processes": a `phantom
	// node` process each, on this machine) or "join=HOST:PORT,..." (nodes
	// something else started). See ParseClusterMode.
	Cluster string
	// NodeBinary is the binary started as `NodeBinary node ...` in
	// processes mode; empty means this one (os.Executable).
	NodeBinary string
	// NodeLogDir receives the node processes' logs, one ID.log each; empty
	// means a new temporary directory, which the report names.
	NodeLogDir string
	// NodeCPUs puts each node process under a CPU quota of this many CPUs
	// (cgroups; --node-cpus), only with ClusterProcesses; 0 means none.
	NodeCPUs float64
	// Transactions and Queries bound the txn and query suites, together
	// with the duration: whichever comes first ends the suite. 0 = no bound.
	Transactions, Queries int
	// KeyDist is how the concurrency suite draws its keys.
	KeyDist KeyDist
	Clients int // concurrent load clients (closed loop: each issues its next op when the last returns)
	// Rate, when above zero, is the open loop: iterations per second over
	// all clients, each started at its scheduled time however the system
	// answers, with latency measured from that time.
	Rate     float64
	Duration time.Duration // how long each suite runs
	DataSize int           // bytes per written value
	// Tick is how often figures are harvested and a snapshot published.
	Tick time.Duration
	// Window is how many ticks the sliding window spans.
	Window    int
	Baselines metrics.Baselines
	// MemoryBudget caps the memory the run may use: it is the Go
	// runtime's memory limit, and the keyspace, log compaction and
	// replication messages are sized, in bytes, so that what the run
	// keeps takes at most 60% of it (Config.size). Zero means a quarter
	// of the machine's memory, at most 4 GiB.
	MemoryBudget int64
	Seed         int64 // base seed of every random generator
	// OpTimeout is every op's deadline: the database gives up a call at it,
	// and the runner cancels an iteration still running past it, so a
	// stall is counted as errors of kind timeout instead of waiting
	// unseen.
	OpTimeout time.Duration
	// Nemesis lists the faults the runner injects at random while any
	// suite runs (knob.NemesisFaults); empty for none.
	Nemesis []string
	// LogOutput receives the cluster's Raft logs; nil discards them.
	LogOutput io.Writer
	// At are live changes scripted at times since the load started.
	At []knob.TimedAction
	// CheckDir is where correctness checks write their evidence, such as
	// the visualisation of a history that is not linearizable: beside the
	// report. Empty means the working directory (the temporary directory
	// when that cannot be written).
	CheckDir string
	// OnSnapshot, when set, is called with every published snapshot from
	// the runner's tick goroutine. It must return quickly.
	OnSnapshot func(*metrics.Snapshot)
}

// DefaultConfig is a small, quick run of the consensus suite.
func DefaultConfig() Config {
	return Config{
		Suites:    []string{"consensus"},
		Nodes:     3,
		Cluster:   ClusterEmbedded,
		Clients:   8,
		Duration:  10 * time.Second,
		DataSize:  1024,
		Tick:      250 * time.Millisecond,
		Window:    4,
		Baselines: metrics.SeedBaselines(),
		Seed:      1,
		OpTimeout: knob.DefaultOpTimeout,
	}
}

// Validate says what is wrong with c, one problem per error, in words a
// user can act on.
func (c Config) Validate() error {
	// errors.Join drops the nils: each check adds its error or nothing.
	errs := []error{validSuites(c.Suites),
		knob.Nodes.Check(c.Nodes),
		knob.Shards.Check(c.Shards),
		knob.NetDelay.Check(c.NetDelay),
		knob.Transactions.Check(c.Transactions),
		knob.Queries.Check(c.Queries),
		c.KeyDist.validate(),
		knob.Rate.Check(c.Rate),
	}
	if c.Storage != "" && c.Storage != core.StorageMemory && c.Storage != core.StorageDisk {
		errs = append(errs, fmt.Errorf("storage must be %q or %q, got %q", core.StorageMemory, core.StorageDisk, c.Storage))
	}
	if m, err := ParseClusterMode(c.Cluster); err != nil {
		errs = append(errs, err)
	} else {
		if m.Kind == "join" && slices.Contains(c.Suites, "scalability") {
			errs = append(errs, errors.New("the scalability suite starts clusters of its own, which join mode cannot: run it with cluster embedded or processes"))
		}
		if c.NodeCPUs != 0 {
			if m.Kind != ClusterProcesses {
				errs = append(errs, fmt.Errorf("node CPU quotas (--node-cpus) need cluster %s, not %s: only node processes phantom starts can be put under one", ClusterProcesses, m))
			} else {
				errs = append(errs, cgroup.ValidateCPUs(c.NodeCPUs))
			}
		}
	}
	errs = append(errs,
		knob.Clients.Check(c.Clients),
		knob.Duration.Check(c.Duration),
		knob.DataSize.Check(c.DataSize),
		knob.Tick.Check(c.Tick),
		knob.Window.Check(c.Window),
		knob.MemoryBudget.Check(c.MemoryBudget),
		knob.OpTimeout.Check(c.OpTimeout),
		knob.CheckNemesis(c.Nemesis),
	)
	planned := time.Duration(len(c.Suites)) * c.Duration
	for _, a := range c.At {
		if err := a.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("at %v: %w", a.At, err))
		} else if a.At < 0 || a.At >= planned {
			errs = append(errs, fmt.Errorf("at %v:%s comes after the load ends (%v planned)", a.At, a.Action, planned))
		}
	}
	errs = append(errs, c.Baselines.Validate())
	return errors.Join(errs...)
}

// validSuites is Resolve's error alone.
func validSuites(names []string) error {
	_, err := Resolve(names)
	return err
}

// shards is how many Raft groups the cluster has.
func (c Config) shards() int {
	if c.Shards == 0 {
		return c.Nodes
	}
	return c.Shards
}

// Replicas is the replication factor the core uses for c.Nodes nodes.
func (c Config) Replicas() int { return core.ReplicationFactor(c.Nodes) }

// maxKeys bounds the keyspace: enough keys that writes spread over the
// state, few enough that small values don't fill memory for nothing.
const maxKeys = 10_000

// The Raft log entries a replica keeps between snapshots, at most: the
// bytes the budget allows, and no more than maxThreshold, nor than
// maxLogEntries over all the run's replicas. Every entry is a few objects
// the collector marks on each cycle whatever its value's size, and at
// small values the count, not the bytes, is what costs: the seed's 60
// replicas at 1 KiB kept 8,192 each, 1.5 GiB of logs, and its consensus
// suite ran 15–20% slower over a full minute than with 2,048 (9,230 and
// 8,660 ops/s against 10,380 and 11,150, one run after the other). With
// more shards each shard also gets fewer of the writes, so fewer entries
// a replica cover the same time for a follower that falls behind.
const (
	maxThreshold  = 8192
	maxLogEntries = 1 << 17
	minThreshold  = 128
)

// sizing is how a run fits its memory budget.
type sizing struct {
	keys              int    // keyspace of the write workloads
	snapshotThreshold uint64 // Raft log entries between snapshots
	trailingLogs      uint64 // entries kept after a snapshot
	maxAppendEntries  int    // entries per replication message
	// snapshotInterval is how often replicas check the threshold; 0
	// leaves core's default.
	snapshotInterval time.Duration
}

const (
	// liveShare is the share of the budget the data phantom keeps may
	// take. The runtime is told the budget as its memory limit, so the
	// collector runs whenever the heap reaches it: the rest is the room
	// garbage fills between collections. With the live heap at 90% of the
	// limit the collector ran back to back (37% of the CPU in the seed
	// run); at 60% it runs about once per 40% of the budget allocated.
	liveShare = 0.6
	// overheadShare and maxOverhead bound what a run keeps whatever its
	// data: histograms, connection buffers, goroutine stacks, the
	// runtime's own (about 150 MiB in the seed run).
	overheadShare = 0.1
	maxOverhead   = 160 << 20
	// appendBytes is about how much one replication message carries, as
	// etcd's MaxSizePerMsg, so big values don't hold up heartbeats.
	appendBytes = 1 << 20
	// appendsInFlight is how many appends a leader may have on the way to
	// one follower when replication is pipelined (core's
	// transportMaxInFlight); without a network delay it sends one at a
	// time.
	appendsInFlight = 8
)

// size fits the run into budget, every part counted in bytes. The live
// data gets liveShare of the budget; of that, what does not depend on the
// keyspace comes off first — a fixed overhead, each client's value and
// command, and the appends in flight to every follower — and the rest is
// split between the stored data and the Raft logs.
//
// Stored data: every key's value on every replica. Snapshots cost nothing
// more: the in-memory store shares the state machine's values (core's
// kvSnapshot.Persist), and the Raft log's entries are the values the state
// machine keeps, not copies.
//
// Raft logs, per replica of every shard: up to threshold entries before a
// snapshot, what is written while raft gets round to checking (a quarter
// more), the trailing entries after it (a quarter), and the old values the
// last snapshot still holds because entries since overwrote them (up to
// as many as were written since, 1.25 thresholds): 2.75 thresholds.
func (c Config) size(budget int64) (sizing, error) {
	perValue := int64(c.DataSize) + 64 // key, encoding and map overhead
	r := int64(c.Replicas())
	shards := int64(c.shards())
	tooBig := fmt.Errorf("data size %s does not fit the memory budget of %s; lower the data size",
		knob.Size(c.DataSize), metrics.FormatBytes(float64(budget)))
	s := sizing{maxAppendEntries: int(min(max(appendBytes/perValue, 1), 64))}
	perAppend := int64(s.maxAppendEntries) * perValue
	inFlight := int64(1)
	if c.NetDelay > 0 {
		inFlight = appendsInFlight
	}
	clients := int64(max(c.Clients, 1)) * perValue * 2
	overhead := min(int64(float64(budget)*overheadShare), maxOverhead)
	live := int64(float64(budget)*liveShare) - overhead - clients - shards*(r-1)*inFlight*perAppend
	// A third for the stored data, two for the logs: the keyspace only
	// has to be large enough that writes spread, and the fewer entries
	// between snapshots, the more often a follower a little behind needs
	// a whole snapshot sent.
	keys := live / 3 / (perValue * r)
	threshold := live * 2 / 3 / (shards * r * perValue * 11 / 4)
	if keys < 1 || threshold < 2 {
		return sizing{}, tooBig
	}
	s.keys = int(min(keys, maxKeys))
	perReplica := max(maxLogEntries/(shards*r), minThreshold)
	s.snapshotThreshold = uint64(min(threshold, maxThreshold, perReplica))
	s.trailingLogs = max(s.snapshotThreshold/4, 1)
	// Raft checks the threshold every one to two intervals, and the logs
	// grow past it meanwhile by whatever was written: at 1 MiB values and
	// 20 writes a second per shard, 40 MiB a replica with core's 1 s. A
	// check costs a comparison, so with large values it comes often.
	if perValue >= 64<<10 {
		s.snapshotInterval = 100 * time.Millisecond
	}
	return s, nil
}

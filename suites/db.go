package suites

import (
	"context"

	"github.com/phantomdb/phantom/core"
)

// DB is the database as the suites and the runner drive it: exactly the
// calls they make, so that a cluster living elsewhere (node processes, or
// nodes something else started) can stand in for the embedded one without
// a suite changing. *core.Cluster implements it.
//
// Every method is safe for concurrent use by any number of goroutines: load
// clients, probes, the runner and its background changes all call at once.
// Calls that talk to the cluster take a context first and give up when it
// ends; a call whose context has no deadline gets the database's own
// operation timeout. Leader changes are the database's business: a call
// routed to a shard whose leader moves is retried inside it until the
// deadline, so callers never see a "not the leader" error, only
// core.ErrNoLeader (wrapped with the context's error when no leader came
// in time) or core.ErrClosed once Close has begun. Errors are compared with
// errors.Is against core's sentinels; the ones that matter to suites are
// named below, with the calls that return them.
//
// The types in the signatures are core's: another implementation returns
// the same values.
type DB interface {
	// Keys and values. Put returns once a quorum of the key's shard has
	// the write and its leader has applied it; PutReplicated once every
	// live replica has. Get is linearizable: it sees every write
	// acknowledged before it began, and returns core.ErrNotFound for a key
	// with no value. Neither put keeps value.
	Put(ctx context.Context, key string, value []byte) error
	PutReplicated(ctx context.Context, key string, value []byte) error
	Get(ctx context.Context, key string) ([]byte, error)

	// Transactions. Txn commits its ops by two-phase commit or aborts
	// with core.ErrAborted, wrapping core.ErrConflict (another
	// transaction holds a key: retry) or core.ErrConditionFailed (an
	// overdraft, say); any other error may leave the outcome unknown
	// until ResolveLocks; TxnOutcome then says what became of it, from
	// its decision record (given the TxnResult Txn returned with the
	// error). Saga runs its steps in order and compensates the
	// completed ones in reverse when one fails, returning
	// core.ErrSagaFailed. ResolveLocks settles every expired lock, and
	// SumInts adds up integer values with a linearizable read per shard:
	// together, a workload's invariant check after its load.
	Txn(ctx context.Context, t core.Txn) (core.TxnResult, error)
	Saga(ctx context.Context, steps []core.SagaStep) (core.SagaResult, error)
	TxnOutcome(ctx context.Context, r core.TxnResult) (core.Outcome, error)
	ResolveLocks(ctx context.Context) (int, error)
	SumInts(ctx context.Context, keys []string) (total int64, negatives int, err error)

	// Queries. PutRow writes a row; Query plans, scans every planned shard
	// on its leader in parallel and merges, and times each phase.
	PutRow(ctx context.Context, r core.Row) error
	Query(ctx context.Context, q core.Query) (core.QueryResult, error)

	// Membership. Heartbeat runs one node's heartbeat round to the meta
	// group's leader (core.ErrNodeDown for a crashed node). AddNode adds a
	// node, moves replicas onto it and returns its id; RemoveNode drains
	// one and removes it. Both may take seconds; on error the cluster stays
	// consistent with the node half-moved.
	Heartbeat(ctx context.Context, node string) error
	AddNode(ctx context.Context) (string, error)
	RemoveNode(ctx context.Context, node string) error

	// Status and leadership, cheap enough to call every tick: Status is
	// the nodes, shards, leaders and indexes as they stand (after Close,
	// every node down); Shards is how many shards there are, fixed for the
	// cluster's life; Elections returns the leader elections recorded
	// since cursor since (0 the first time) and the cursor to pass next.
	Status() core.Status
	Shards() int
	Elections(since uint64) (events []core.Election, next uint64)

	// Faults. KillLeader crashes the replica leading shard, returns its
	// node and waits for a new leader. CrashNode stops a node abruptly;
	// RestartNode brings a crashed one back over its storage. Partition
	// cuts a node off from the others until Heal. SetAllLinks shapes every
	// link between nodes (the zero Link removes the shaping).
	KillLeader(ctx context.Context, shard int) (node string, err error)
	CrashNode(node string) error
	RestartNode(ctx context.Context, node string) error
	Partition(node string) error
	Heal()
	SetAllLinks(l core.Link) error

	// Close shuts the database down (or, for one phantom did not start,
	// lets go of it); calls in flight and after return core.ErrClosed.
	Close() error
}

var _ DB = (*core.Cluster)(nil)

// PhaseTimer is what a DB offers when it can say where a call's time went:
// Put and Get that fill a caller-owned core.Phases (core/phases.go), so
// timing them allocates nothing. *core.Cluster implements it; a suite
// asks for it once and falls back to Put and Get, with no phases, on a
// DB without it.
type PhaseTimer interface {
	PutTimed(ctx context.Context, key string, value []byte, ph *core.Phases) error
	GetTimed(ctx context.Context, key string, ph *core.Phases) ([]byte, error)
}

var _ PhaseTimer = (*core.Cluster)(nil)

// phaseTimer returns db's PhaseTimer, looking through the runner's
// guardedDB (which guards faults, not puts and reads), or nil.
func phaseTimer(db DB) PhaseTimer {
	if g, ok := db.(guardedDB); ok {
		db = g.DB
	}
	t, _ := db.(PhaseTimer)
	return t
}

// TrafficCounter is what a DB offers when it counts its nodes' network
// bytes in this process: the embedded cluster, whose nodes' Raft links run
// through its simulated network (core.Cluster.AppendTraffic), which the
// OS cannot tell apart. AppendTraffic appends every node's counters to
// dst; ok is false when the DB counts none — its nodes are processes that
// count their own, or it is closed — and the runner stops asking it. It
// must be cheap: the runner calls it once a tick.
type TrafficCounter interface {
	AppendTraffic(dst []core.NodeTraffic) (out []core.NodeTraffic, ok bool)
}

// EntrySizer is a database whose timeouts follow the size of the values
// it is to write (core.Cluster's SetEntryBytes): the runner tells it of a
// live data-size change before the suites write the new size.
type EntrySizer interface {
	SetEntryBytes(n int)
}

var (
	_ TrafficCounter = (*core.Cluster)(nil)
	_ EntrySizer     = (*core.Cluster)(nil)
)

// openEmbedded starts an embedded cluster in this process: the runner's
// default way to open its database.
func openEmbedded(ctx context.Context, cfg core.Config) (DB, error) {
	c, err := core.NewCluster(ctx, cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

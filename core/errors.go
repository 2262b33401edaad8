package core

import (
	"errors"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// Errors returned by the client API. Compare them with errors.Is: a call that
// gives up at its deadline wraps the reason together with the context error.
var (
	// ErrClosed is returned by every call made after Close, and by calls
	// that were in flight when it ran.
	ErrClosed = errors.New("core: cluster is closed")

	// ErrNoLeader means the key's shard had no leader that could serve the
	// call. Calls retry it until their deadline and then return it wrapped
	// with the context error, so errors.Is matches both.
	ErrNoLeader = errors.New("core: no shard leader")

	// ErrNotFound is returned by Get when the key has no value.
	ErrNotFound = errors.New("core: key not found")

	// ErrUnknownNode is returned for a node id that names no node, or a node
	// that hosts no replica of the shard asked about.
	ErrUnknownNode = errors.New("core: unknown node")

	// ErrLastNode is returned by RemoveNode for the cluster's only node.
	ErrLastNode = errors.New("core: cannot remove the last node")

	// ErrTooManyNodes is returned by AddNode when the cluster already has
	// Config.MaxNodes nodes.
	ErrTooManyNodes = errors.New("core: cluster is at its maximum size")

	// ErrNodeDown is returned by Heartbeat for a node that has crashed.
	ErrNodeDown = errors.New("core: node is down")

	// ErrUnknownShard is returned for a shard number outside 0..shards-1.
	ErrUnknownShard = errors.New("core: unknown shard")

	// ErrAborted is returned by Txn when the transaction aborted, for
	// certain: nothing it wrote is or will be visible. It comes wrapped
	// with the reason, ErrConflict or ErrConditionFailed, or the error that
	// kept a participant from preparing (a deadline, say: nothing was
	// decided, and presumed abort makes that final); TxnResult.Abort says
	// which.
	ErrAborted = errors.New("core: transaction aborted")

	// ErrOutcomeUnknown is returned by Txn when the transaction may have
	// committed or not: the call gave up (a deadline, a lost leader) while
	// its decision was being written. It comes wrapped with the cause, the
	// context error included, so errors.Is matches that too. TxnOutcome
	// says what became of it; so does any later read of its keys.
	ErrOutcomeUnknown = errors.New("core: transaction outcome unknown")

	// ErrConflict means a key was locked by another transaction. Conflicts
	// abort at once rather than wait, so transactions never deadlock; retry
	// the transaction.
	ErrConflict = errors.New("core: key locked by another transaction")

	// ErrConditionFailed means an Add would have left a key negative or the
	// key did not hold an integer, as when a bank transfer overdraws.
	ErrConditionFailed = errors.New("core: transaction condition failed")

	// ErrSagaFailed is returned by Saga when a step failed and the steps
	// before it were compensated; SagaResult says which and why.
	ErrSagaFailed = errors.New("core: saga step failed")
)

// Internal conditions that client calls retry; none reaches a caller except
// wrapped in a deadline error.
var (
	// errTermChanged means a read started in one leader term and finished in
	// another, so its read index may be stale.
	errTermChanged = errors.New("core: leader term changed during read")

	// errApplyLag means the leader's state machine had not caught up with the
	// read index when time ran out.
	errApplyLag = errors.New("core: leader state machine behind commit index")

	// errPartitioned is what a dial across a partition fails with; raft
	// only ever sees it as a failed RPC.
	errPartitioned = netsim.ErrPartitioned
)

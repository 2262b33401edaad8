package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// SagaStep is one step of a saga: a single write, atomic on its key's
// shard. Its compensation is implied: an Add is undone by adding -Delta
// (which keeps whatever else changed the key since), a Set or Delete by
// restoring the value it replaced.
type SagaStep struct {
	Op Op

	// FailProbability, from 0 to 1, makes the orchestrator fail the step
	// on purpose that often instead of running it, to exercise
	// compensation under load.
	FailProbability float64
}

// SagaResult reports how a saga went.
type SagaResult struct {
	ID        uint64
	Completed bool
	// FailedStep is the index of the step that failed, -1 when none did.
	FailedStep int
	// Reason says why it failed: AbortCondition (an Add would overdraw),
	// AbortConflict (a transaction held the key's lock), AbortError (the
	// step's shard was unreachable) or NotAborted for an injected failure.
	Reason AbortReason
	// Injected is true when the failure was injected by FailProbability.
	Injected bool
	// Compensated counts the steps whose compensation undid a change.
	Compensated int
	// Execution is the time spent on the steps; Compensation the time
	// spent undoing them.
	Execution    time.Duration
	Compensation time.Duration
}

// Saga runs steps in order. Each step is identified by the saga's id and
// its index, and its shard records it, so a step replayed across a leader
// change applies once. When a step fails, the steps before it are
// compensated in reverse order, each exactly once, and Saga returns
// ErrSagaFailed wrapped with the cause. A compensation is never refused: it
// waits out (or resolves, once expired) a transaction's lock on its key,
// until Config.OpTimeout.
//
// Unlike Txn, a saga's intermediate states are visible to readers.
func (c *Cluster) Saga(ctx context.Context, steps []SagaStep) (SagaResult, error) {
	res := SagaResult{FailedStep: -1}
	if c.closed.Load() {
		return res, ErrClosed
	}
	for i, s := range steps {
		if s.Op.kind == 0 {
			return res, fmt.Errorf("core: saga step %d was not made by Set, Add or Delete", i)
		}
	}
	res.ID = rand.Uint64() | 1
	start := time.Now()
	var cause error
	for i, s := range steps {
		if s.FailProbability > 0 && rand.Float64() < s.FailProbability {
			res.FailedStep, res.Injected = i, true
			cause = fmt.Errorf("%w: step %d: injected failure", ErrSagaFailed, i)
			break
		}
		sh := c.shardFor(s.Op.Key)
		forget := c.txn.sagas.take(sh.id)
		resp, err := c.propose(ctx, sh, encodeSagaStep(res.ID, i, s.Op, c.sagaMeta(), forget), "saga step")
		if err != nil {
			c.txn.sagas.push(sh.id, forget...)
			// The step may have applied: compensate it too. Undoing a step
			// that never arrived records it so that it never will.
			res.FailedStep, res.Reason = i, AbortError
			cause = fmt.Errorf("%w: step %d: %w", ErrSagaFailed, i, err)
			i++
			res.Execution = time.Since(start)
			return c.compensate(ctx, steps[:i], res, cause)
		}
		switch resp.(voteResp).vote {
		case voteCondition:
			res.FailedStep, res.Reason = i, AbortCondition
			cause = fmt.Errorf("%w: step %d: %w", ErrSagaFailed, i, ErrConditionFailed)
		case voteConflict:
			res.FailedStep, res.Reason = i, AbortConflict
			cause = fmt.Errorf("%w: step %d: %w", ErrSagaFailed, i, ErrConflict)
		}
		if cause != nil {
			break
		}
	}
	res.Execution = time.Since(start)
	if cause == nil {
		res.Completed = true
		c.forgetSaga(res.ID, steps)
		return res, nil
	}
	res, err := c.compensate(ctx, steps[:res.FailedStep], res, cause)
	if err == cause { // compensated: every command was answered
		sent := res.FailedStep
		if !res.Injected {
			sent++ // the failed step's shard has a record too
		}
		c.forgetSaga(res.ID, steps[:sent])
	}
	return res, err
}

// sagaMeta is the clock and retention a saga command carries: its shard
// keeps the records it writes for Config.TxnRecordRetention.
func (c *Cluster) sagaMeta() txnMeta {
	return txnMeta{now: time.Now().UnixNano(), keep: int64(c.cfg.txnRecordRetention())}
}

// forgetSaga lets the shards of steps drop their records of saga id, which
// ended with every command it sent answered. A saga that saw an error
// keeps its records for Config.TxnRecordRetention (or until
// maxSagaRecords pushes them out): a copy of a command whose answer it
// never got may still apply, and must find them.
func (c *Cluster) forgetSaga(id uint64, steps []SagaStep) {
	for i, s := range steps {
		c.txn.sagas.push(c.shardFor(s.Op.Key).id, sagaKey{saga: id, step: i})
	}
}

// compensate undoes done in reverse order. It keeps going after ctx ends,
// within Config.OpTimeout: a half-compensated saga is worse than a late
// one.
func (c *Cluster) compensate(ctx context.Context, done []SagaStep, res SagaResult, cause error) (SagaResult, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.OpTimeout)
	defer cancel()
	for i := len(done) - 1; i >= 0; i-- {
		undone, err := c.undoStep(ctx, res.ID, i, done[i].Op.Key)
		if err != nil {
			res.Compensation = time.Since(start)
			return res, fmt.Errorf("core: saga %x: compensating step %d: %w (after %w)", res.ID, i, err, cause)
		}
		if undone {
			res.Compensated++
		}
		if h := hooks.onUndo; h != nil {
			h(res.ID, i, undone)
		}
	}
	res.Compensation = time.Since(start)
	return res, cause
}

// undoStep compensates one step, waiting for a transaction's lock on its
// key to go: it settles the lock as soon as its transaction is decided, or
// resolves it once it has expired.
func (c *Cluster) undoStep(ctx context.Context, id uint64, step int, key string) (bool, error) {
	sh := c.shardFor(key)
	// A compensation retried across a leader change may have undone the
	// step already; the token lets its replay say so.
	token := rand.Uint64() | 1 // never 0, which marks a step found with nothing to undo
	backoff := minBackoff
	for {
		forget := c.txn.sagas.take(sh.id)
		resp, err := c.propose(ctx, sh, encodeSagaUndo(id, step, token, c.sagaMeta(), forget), "saga compensate")
		if err != nil {
			c.txn.sagas.push(sh.id, forget...)
			return false, err
		}
		v := resp.(voteResp)
		if v.vote != voteConflict {
			return v.vote == voteYes, nil
		}
		if changed, err := c.settle(ctx, sh, v.holders); err != nil {
			return false, err
		} else if changed {
			continue
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false, ctx.Err()
		case <-c.done:
			return false, ErrClosed
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

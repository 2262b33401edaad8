package core

import (
	"context"
	"fmt"
)

// Outcome is what became of a transaction, as its decision record says.
type Outcome byte

// Outcomes of a transaction.
const (
	// OutcomeUnknown: the transaction is not decided yet, or its record
	// is no longer kept.
	OutcomeUnknown Outcome = iota
	// OutcomeCommitted: its writes are, or will be, visible on every
	// participant.
	OutcomeCommitted
	// OutcomeAborted: none of its writes will ever be visible.
	OutcomeAborted
)

func (o Outcome) String() string {
	switch o {
	case OutcomeCommitted:
		return "committed"
	case OutcomeAborted:
		return "aborted"
	}
	return "unknown"
}

// TxnOutcome says what became of the transaction r, as Txn returned it
// (with an error too: its ID and coordinator are set once it began). It
// is how a client that lost the answer — a deadline, a crashed node —
// learns whether its transaction committed. The read is linearizable on
// the coordinator shard.
func (c *Cluster) TxnOutcome(ctx context.Context, r TxnResult) (Outcome, error) {
	if c.closed.Load() {
		return OutcomeUnknown, ErrClosed
	}
	if r.ID == 0 {
		return OutcomeAborted, nil // it never began: nothing was written
	}
	if r.Committed {
		return OutcomeCommitted, nil
	}
	if r.Coord < 0 || r.Coord >= len(c.shards) {
		return OutcomeUnknown, fmt.Errorf("core: transaction %x names coordinator shard %d, which does not exist", r.ID, r.Coord)
	}
	sh := c.shards[r.Coord]
	rt := c.newRetry(ctx, "txn-outcome")
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return OutcomeUnknown, err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			if err = readBarrier(rep, timeout, &rt); err == nil {
				return rep.fsm.outcome(r.ID), nil
			}
		}
		sh.forget(rep)
		if err := rt.after(err); err != nil {
			return OutcomeUnknown, err
		}
	}
}

// outcome is the decision record of transaction id, if this shard
// coordinates it and still keeps it.
func (f *fsm) outcome(id uint64) Outcome {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.tx.decisions[id]
	switch {
	case !ok:
		return OutcomeUnknown
	case d:
		return OutcomeCommitted
	}
	return OutcomeAborted
}

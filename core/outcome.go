package core

import (
	"context"
	"fmt"
	"time"
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
// (with an error too: its ID, coordinator and start are set once it
// began). It is how a client that lost the answer — a deadline, a crashed
// node, an error wrapping ErrOutcomeUnknown — learns whether its
// transaction committed.
//
// The answer is definite whenever one exists: OutcomeCommitted if the
// decision record says commit; OutcomeAborted if it says abort, or if
// there is none once the transaction's prepare window
// (Config.TxnLockTimeout from r.Start) has closed — no commit can be
// written after that, and TxnOutcome makes the coordinator shard say so in
// its log if its clock has not got there yet. While the window is open TxnOutcome
// waits for it to close (or for ctx to end: then OutcomeUnknown and the
// context error). OutcomeUnknown with a nil error means the transaction
// is older than the window plus Config.TxnRecordRetention, and its record,
// if it had one, is gone. The reads are linearizable on the coordinator
// shard.
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
	sh, err := c.shard(r.Coord)
	if err != nil {
		return OutcomeUnknown, fmt.Errorf("core: transaction %x names coordinator shard %d: %w", r.ID, r.Coord, err)
	}
	o, err := c.recordOf(ctx, sh, r.ID)
	if err != nil || o != OutcomeUnknown {
		return o, err
	}
	if r.Start.IsZero() {
		return OutcomeUnknown, nil // no window to go by
	}
	if wait := time.Until(r.Start.Add(c.cfg.txnLockTimeout())); wait > 0 {
		t := time.NewTimer(wait + time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return OutcomeUnknown, fmt.Errorf("%w: transaction %x is still undecided: %w", ErrOutcomeUnknown, r.ID, ctx.Err())
		case <-c.done:
			return OutcomeUnknown, ErrClosed
		}
	}
	// Abort it unless decided; the answer is the decision that holds.
	return c.decide(ctx, sh, r.ID, r.Start.UnixNano())
}

// outcome is the decision record of transaction id, if this shard
// coordinates it and still keeps it.
func (f *fsm) outcome(id uint64) Outcome {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.tx.decisions[id]
	if !ok {
		return OutcomeUnknown
	}
	return d.outcome()
}

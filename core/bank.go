package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SumInts adds up the integers stored at keys (missing keys count as 0) and
// counts the negative ones: the bank invariant check. Each shard's keys are
// read together after one read-index round on its leader, so every value
// is committed and at least as new as any write acknowledged before the
// call, a committed transaction's included (locks are settled as Get
// settles them); intents of undecided transactions are not counted. With
// no transaction or saga in flight the total is exact; during load it can
// be off by a transfer caught half-applied. A key holding something other
// than an integer is an error.
func (c *Cluster) SumInts(ctx context.Context, keys []string) (total int64, negatives int, err error) {
	if c.closed.Load() {
		return 0, 0, ErrClosed
	}
	byShard := make(map[*shard][]string)
	for _, k := range keys {
		sh := c.shardFor(k)
		byShard[sh] = append(byShard[sh], k)
	}
	for sh, ks := range byShard {
		r := &sumRead{keys: ks}
		if err := c.readShard(ctx, sh, "sum", r); err != nil {
			return 0, 0, err
		}
		total, negatives = total+r.sum, negatives+r.neg
	}
	return total, negatives, nil
}

// readShard runs read on the state machine of sh's leader after a
// read-index round, retrying leader changes like Get. An error from read
// itself is returned as is. read returns the holders of the locks on what
// it read, as of the same moment; readShard settles them as Get does and,
// if that changed anything, runs read again, so that a transaction
// acknowledged as committed is never read half applied.
func (c *Cluster) readShard(ctx context.Context, sh *shard, op string, read shardRead) error {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			var held []lockHolder
			held, err = readOn(rep, read, timeout, &rt)
			if re := (*readError)(nil); errors.As(err, &re) {
				return re.err
			}
			if err == nil {
				if len(held) == 0 {
					return nil
				}
				again, err := c.settle(ctx, sh, held)
				if err != nil {
					return fmt.Errorf("core: %s: %w", op, err)
				}
				if !again {
					return nil
				}
				continue
			}
		}
		sh.forget(rep)
		if err := rt.after(err); err != nil {
			return err
		}
	}
}

// shardRead is a read of a state machine that readShard runs on a shard's
// leader: run runs it on a state machine in this process and returns the
// holders of the locks on what it read; a leader in a node process runs
// query() there and the answer goes to take.
type shardRead interface {
	run(f *fsm) ([]lockHolder, error)
	query() fsmQuery
	take(a *fsmAnswer)
}

// readOn runs read on rep after a read-index round. An error from the round
// is retryable; one from read itself is not.
func readOn(rep *replica, read shardRead, timeout time.Duration, rt *retry) ([]lockHolder, error) {
	if rep.remote != nil {
		q := read.query()
		q.Barrier = true
		a, err := rep.remoteRead(q, timeout, nil)
		if err != nil {
			return nil, err
		}
		read.take(a)
		return holdersFromWire(a.Held), nil
	}
	if err := readBarrier(rep, timeout, rt); err != nil {
		return nil, err
	}
	held, err := read.run(rep.fsm)
	if err != nil {
		return nil, &readError{err}
	}
	return held, nil
}

// readError marks an error from a read itself, which readShard returns as
// is rather than retrying.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// sumRead adds up the integers at keys and counts the negative ones.
type sumRead struct {
	keys []string
	sum  int64
	neg  int
}

func (r *sumRead) run(f *fsm) ([]lockHolder, error) {
	r.sum, r.neg = 0, 0 // a read settles locks and runs again
	return f.lookup(r.keys, func(k string, v []byte, had bool) error {
		n, ok := parseInt(v, had)
		if !ok {
			return fmt.Errorf("core: sum: key %q holds %q, not an integer", k, v)
		}
		r.sum += n
		if n < 0 {
			r.neg++
		}
		return nil
	})
}

func (r *sumRead) query() fsmQuery   { return fsmQuery{Kind: "sum", Keys: r.keys} }
func (r *sumRead) take(a *fsmAnswer) { r.sum, r.neg = a.Sum, a.Neg }

// outcomeRead reads a transaction's decision record.
type outcomeRead struct {
	id uint64
	o  Outcome
}

func (r *outcomeRead) run(f *fsm) ([]lockHolder, error) {
	r.o = f.outcome(r.id)
	return nil, nil
}

func (r *outcomeRead) query() fsmQuery   { return fsmQuery{Kind: "outcome", ID: r.id} }
func (r *outcomeRead) take(a *fsmAnswer) { r.o = a.Outcome }

package core

import (
	"context"
	"fmt"
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
		var sum int64
		var neg int
		err := c.readShard(ctx, sh, "sum", func(f *fsm) ([]lockHolder, error) {
			sum, neg = 0, 0 // a read settles locks and runs again
			return f.lookup(ks, func(k string, v []byte, had bool) error {
				n, ok := parseInt(v, had)
				if !ok {
					return fmt.Errorf("core: sum: key %q holds %q, not an integer", k, v)
				}
				sum += n
				if n < 0 {
					neg++
				}
				return nil
			})
		})
		if err != nil {
			return 0, 0, err
		}
		total, negatives = total+sum, negatives+neg
	}
	return total, negatives, nil
}

// readShard runs read on the state machine of sh's leader after a
// read-index round, retrying leader changes like Get. An error from read
// itself is returned as is. read returns the holders of the locks on what
// it read, as of the same moment; readShard settles them as Get does and,
// if that changed anything, runs read again, so that a transaction
// acknowledged as committed is never read half applied.
func (c *Cluster) readShard(ctx context.Context, sh *shard, op string, read func(f *fsm) ([]lockHolder, error)) error {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			if err = readBarrier(rep, timeout, &rt); err == nil {
				held, err := read(rep.fsm)
				if err != nil || len(held) == 0 {
					return err
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

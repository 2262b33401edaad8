package core

import (
	"context"
	"fmt"
)

// SumInts adds up the integers stored at keys (missing keys count as 0) and
// counts the negative ones: the bank invariant check. Each shard's keys are
// read together after one read-index round on its leader, so every value
// is committed and at least as new as any write acknowledged before the
// call; intents of prepared transactions are not counted. With no
// transaction or saga in flight the total is exact; during load it can be
// off by a transfer caught half-applied. A key holding something other than
// an integer is an error.
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
		err := c.readShard(ctx, sh, "sum", func(f *fsm) error {
			return f.lookup(ks, func(k string, v []byte, had bool) error {
				n, ok := parseInt(v, had)
				if !ok {
					return fmt.Errorf("core: sum: key %q holds %q, not an integer", k, v)
				}
				total += n
				if n < 0 {
					negatives++
				}
				return nil
			})
		})
		if err != nil {
			return 0, 0, err
		}
	}
	return total, negatives, nil
}

// readShard runs read on the state machine of sh's leader after a
// read-index round, retrying leader changes like Get. An error from read
// itself is returned as is.
func (c *Cluster) readShard(ctx context.Context, sh *shard, op string, read func(f *fsm) error) error {
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
				return read(rep.fsm)
			}
		}
		sh.forget(rep)
		if err := rt.after(err); err != nil {
			return err
		}
	}
}

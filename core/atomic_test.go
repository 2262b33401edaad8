package core

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Tests of issue 13's atomic commits: an acknowledged commit is visible to
// every later linearizable read on every participant, whatever fails after
// the decision, and a put is never overwritten by an older intent.

// splitShards returns a coordinator shard and a participant shard such that
// two of the participant's replicas are on nodes that host no replica of the
// coordinator: partitioning those two (cut) cuts the participant off from
// its quorum and leaves the coordinator whole.
func splitShards(t *testing.T, c *Cluster) (coord, part int, cut []string) {
	t.Helper()
	for coord = range c.Shards() {
		cn := shardNodes(c, coord)
		for part = range c.Shards() {
			cut = cut[:0]
			for _, n := range shardNodes(c, part) {
				if !slices.Contains(cn, n) {
					cut = append(cut, n)
				}
			}
			if len(cut) >= 2 {
				return coord, part, cut[:2]
			}
		}
	}
	t.Fatal("no coordinator and participant shards with two nodes apart")
	return 0, 0, nil
}

// The reproduction: 5 nodes; the transaction commits on its
// coordinator shard, and its participant is partitioned right after the
// decision, before it learns of it (the coordinator, having acknowledged,
// stops, as its finish would time out across the partition). After the
// heal, a linearizable Get of the participant's key must return the
// committed value, and a Put made after that must survive the lock's
// resolution. Before readers settled locks, Get returned the old value for
// as long as the lock lasted, and the resolution then overwrote the Put.
func TestReadAfterAcknowledgedCommitAcrossPartition(t *testing.T) {
	c := newTestCluster(t, 5, shortLocks)
	coord, part, cut := splitShards(t, c)
	ck, pk := keyOn(c, coord, "coord"), keyOn(c, part, "part")
	if err := c.Put(testContext(t), pk, []byte("old")); err != nil {
		t.Fatal(err)
	}
	res, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(ck, []byte("new")), Set(pk, []byte("new"))}}, phaseDecide)
	if !errors.Is(err, errTxnStopped) || !res.Committed {
		t.Fatalf("Txn = %+v, %v; want it decided committed", res, err)
	}
	for _, n := range cut {
		if err := c.Partition(n); err != nil {
			t.Fatal(err)
		}
	}
	// Let the participant shard lose its leader's lease, as it would.
	time.Sleep(3 * c.cfg.LeaderLeaseTimeout)
	c.Heal()

	if got := mustGet(t, c, pk); got != "new" {
		t.Fatalf("after the heal, Get(%s) = %s, want the committed new", pk, got)
	}
	if err := c.Put(testContext(t), pk, []byte("later")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(c.cfg.txnLockTimeout())
	if _, err := c.ResolveLocks(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, pk); got != "later" {
		t.Errorf("after resolving locks, Get(%s) = %s, want the later put", pk, got)
	}
	if got := mustGet(t, c, ck); got != "new" {
		t.Errorf("Get(%s) = %s, want new", ck, got)
	}
}

// The other reproduction: p=100, a transaction adds 5 and decides
// commit, then Put(p, 999) is acknowledged and read back; resolving the
// transaction's lock must not bring p to 105, which no serial order gives.
// Before, Put ignored the lock and the resolution overwrote it.
func TestPutAgainstLock(t *testing.T) {
	for _, tt := range []struct {
		name  string
		phase txnPhase // where the transaction's coordinator stops
	}{
		{"decided", phaseDecide},    // the put finishes the commit first
		{"undecided", phasePrepare}, // the put waits for the lock to expire
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, 3, shortLocks)
			p, q := keyOn(c, 0, "p"), keyOn(c, 1, "q")
			if err := c.Put(testContext(t), p, []byte("100")); err != nil {
				t.Fatal(err)
			}
			// q's shard coordinates, so p holds a lock.
			if _, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Add(q, 5), Add(p, 5)}}, tt.phase); !errors.Is(err, errTxnStopped) {
				t.Fatal(err)
			}
			if err := c.Put(testContext(t), p, []byte("999")); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, c, p); got != "999" {
				t.Fatalf("Get(p) = %s right after Put(p, 999)", got)
			}
			time.Sleep(c.cfg.txnLockTimeout())
			if _, err := c.ResolveLocks(testContext(t)); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, c, p); got != "999" {
				t.Errorf("Get(p) = %s after the lock was resolved, want 999", got)
			}
		})
	}
}

// A lock read by Query's scan and by SumInts is settled like Get's.
func TestScansSettleCommittedLocks(t *testing.T) {
	c := newTestCluster(t, 3, shortLocks)
	a, b := keyOn(c, 0, "acct"), keyOn(c, 1, "acct")
	if _, err := c.Txn(testContext(t), Txn{Ops: []Op{Add(a, 50), Add(b, 50)}}); err != nil {
		t.Fatal(err)
	}
	// a's shard coordinates, so b holds the unfinished lock of a commit.
	if _, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Add(a, -20), Add(b, 20)}}, phaseDecide); !errors.Is(err, errTxnStopped) {
		t.Fatal(err)
	}
	total, _, err := c.SumInts(testContext(t), []string{a, b})
	if err != nil || total != 100 {
		t.Fatalf("SumInts = %d, %v; want 100", total, err)
	}
	if got := mustGet(t, c, b); got != "70" {
		t.Errorf("Get(b) = %s, want 70", got)
	}
	if n := c.Locks(); n != 0 {
		t.Errorf("%d locks left after the readers settled them", n)
	}
}

// TxnOutcome gives a definite answer for a committed transaction, one
// aborted by a conflict, one whose prepare failed, and ones whose
// coordinator stopped after preparing or deciding; and Txn's errors say
// aborted for the ones that aborted.
func TestTxnOutcome(t *testing.T) {
	c := newTestCluster(t, 5, shortLocks)
	coord, part, cut := splitShards(t, c)
	key := func(shard int, p string) string { return keyOn(c, shard, p) }
	outcome := func(r TxnResult) Outcome {
		t.Helper()
		r.Committed = false // make it ask the record
		o, err := c.TxnOutcome(testContext(t), r)
		if err != nil {
			t.Fatalf("TxnOutcome(%x): %v", r.ID, err)
		}
		return o
	}

	t.Run("committed", func(t *testing.T) {
		res, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(key(coord, "c1"), nil), Set(key(part, "p1"), nil)}})
		if err != nil || !res.Committed {
			t.Fatal(res, err)
		}
		if o := outcome(res); o != OutcomeCommitted {
			t.Errorf("outcome %v, want committed", o)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		held := key(part, "p2")
		if _, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(key(coord, "c2h"), nil), Set(held, nil)}}, phasePrepare); !errors.Is(err, errTxnStopped) {
			t.Fatal(err)
		}
		res, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(key(coord, "c2"), nil), Set(held, nil)}})
		if !errors.Is(err, ErrAborted) || errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("Txn = %v, want a conflict abort", err)
		}
		if o := outcome(res); o != OutcomeAborted {
			t.Errorf("outcome %v, want aborted", o)
		}
	})
	t.Run("failed prepare", func(t *testing.T) {
		for _, n := range cut {
			if err := c.Partition(n); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
		res, err := c.Txn(ctx, Txn{Ops: []Op{Set(key(coord, "c3"), nil), Set(key(part, "p3"), nil)}})
		cancel()
		c.Heal()
		if !errors.Is(err, ErrAborted) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("Txn = %v; want a definite abort that wraps the deadline", err)
		}
		if o := outcome(res); o != OutcomeAborted {
			t.Errorf("outcome %v, want aborted", o)
		}
	})
	for _, tt := range []struct {
		name  string
		phase txnPhase
		want  Outcome
	}{
		{"stopped after prepare", phasePrepare, OutcomeAborted},
		{"stopped after decide", phaseDecide, OutcomeCommitted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(key(coord, "c4"+tt.name), nil), Set(key(part, "p4"+tt.name), nil)}}, tt.phase)
			if !errors.Is(err, errTxnStopped) {
				t.Fatal(err)
			}
			if o := outcome(res); o != tt.want {
				t.Errorf("outcome %v, want %v", o, tt.want)
			}
			// Asked again, the answer holds: a stopped-after-prepare
			// transaction can no longer commit.
			if o := outcome(res); o != tt.want {
				t.Errorf("outcome asked again %v, want %v", o, tt.want)
			}
		})
	}
	t.Run("unknown while deciding", func(t *testing.T) {
		// The coordinator shard is cut off while the participant is not:
		// prepare succeeds, the decision cannot be written in time.
		cn := shardNodes(c, coord)
		var cutC []string
		for _, n := range cn {
			if !slices.Contains(shardNodes(c, part), n) {
				cutC = append(cutC, n)
			}
		}
		if len(cutC) < 2 {
			t.Skip("the coordinator shard cannot be cut off alone")
		}
		for _, n := range cutC[:2] {
			if err := c.Partition(n); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
		res, err := c.Txn(ctx, Txn{Ops: []Op{Set(key(coord, "c5"), nil), Set(key(part, "p5"), nil)}})
		cancel()
		c.Heal()
		if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAborted) {
			t.Fatalf("Txn = %v; want an unknown outcome that wraps the deadline", err)
		}
		if o := outcome(res); o == OutcomeUnknown {
			t.Errorf("outcome unknown after the window closed")
		}
	})
}

// txnCounts sums, over every shard's leader, the decision records, saga
// records and locks it keeps.
func txnCounts(c *Cluster) (decisions, sagas, locks int) {
	for _, sh := range c.shards {
		rep, err := sh.leaderReplica()
		if err != nil {
			continue
		}
		rep.fsm.mu.RLock()
		decisions += len(rep.fsm.tx.decisions)
		sagas += len(rep.fsm.tx.sagaSteps)
		locks += len(rep.fsm.tx.locks)
		rep.fsm.mu.RUnlock()
	}
	return decisions, sagas, locks
}

// Many transactions and sagas, with faults — coordinators stopped after
// prepare and after deciding, conflicts, failed sagas, expired locks, a
// crashed node — leave a bounded number of decision records, saga records
// and locks: once their retention has passed and the shards have moved on
// (ResolveLocks finishing what coordinators left), only the last few
// operations' records remain. Before, aborted, resolved and late
// transactions' records were never dropped.
func TestTxnRecordsStayBounded(t *testing.T) {
	const retention = 300 * time.Millisecond
	c := newTestCluster(t, 3, shortLocks, func(cfg *Config) { cfg.TxnRecordRetention = retention })
	shards := c.Shards()
	keys := make([][]string, shards)
	for s := range keys {
		for i := range 8 {
			keys[s] = append(keys[s], keyOn(c, s, "b"+strconv.Itoa(i)))
		}
	}
	ctx := testContext(t)
	round := func(r int) (ops int) {
		for i := range 12 {
			s := (r + i) % shards
			a, b := keys[s][i%8], keys[(s+1)%shards][(i+r)%8]
			switch i % 6 {
			case 0:
				_, _ = c.txnStoppedAfter(ctx, Txn{Ops: []Op{Add(a, 1), Add(b, 1)}}, phasePrepare)
			case 1:
				_, _ = c.txnStoppedAfter(ctx, Txn{Ops: []Op{Add(a, 1), Add(b, 1)}}, phaseDecide)
			case 2:
				_, _ = c.Saga(ctx, []SagaStep{{Op: Add(a, 1)}, {Op: Add(b, 1), FailProbability: 1}})
			case 3:
				_, _ = c.Saga(ctx, []SagaStep{{Op: Add(a, 1)}, {Op: Add(b, -1000)}})
			default:
				_, _ = c.Txn(ctx, Txn{Ops: []Op{Add(a, 1), Add(b, 1)}})
			}
			ops++
		}
		return ops
	}
	total, peak := 0, 0
	for r := range 30 {
		if r == 10 {
			victim := c.Status().Shards[0].Leader
			if err := c.CrashNode(victim); err != nil {
				t.Fatal(err)
			}
			total += round(r)
			if err := c.RestartNode(ctx, victim); err != nil {
				t.Fatal(err)
			}
		}
		total += round(r)
		if r%3 == 2 {
			time.Sleep(c.cfg.txnLockTimeout())
			if _, err := c.ResolveLocks(ctx); err != nil {
				t.Fatal(err)
			}
		}
		d, s, l := txnCounts(c)
		peak = max(peak, d+s+l)
	}
	// Let every record's window and retention pass, then move every
	// shard's clock on with a few operations of each kind.
	time.Sleep(c.cfg.txnLockTimeout() + retention)
	if _, err := c.ResolveLocks(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(retention)
	var tick int
	for range 4 {
		for s := range shards {
			a, b := keys[s][0], keys[(s+1)%shards][1]
			_, _ = c.Txn(ctx, Txn{Ops: []Op{Add(a, 1), Add(b, 1)}})
			_, _ = c.Saga(ctx, []SagaStep{{Op: Add(a, 1)}, {Op: Add(b, 1), FailProbability: 1}})
			tick += 2
		}
	}
	d, s, l := txnCounts(c)
	t.Logf("%d operations: peak %d records and locks; at the end %d decisions, %d saga records, %d locks", total, peak, d, s, l)
	if l != 0 {
		t.Errorf("%d locks left after ResolveLocks", l)
	}
	// What is left is at most one record per operation of the last tick:
	// its transactions' decision records, still in their retention, and
	// the records of its sagas not yet forgotten.
	if d+s > tick {
		t.Errorf("%d decision and %d saga records left after their retention, want at most %d (the last %d operations')", d, s, tick, tick)
	}
	if peak >= total {
		t.Errorf("peak of %d records and locks for %d operations: nothing was dropped", peak, total)
	}
}

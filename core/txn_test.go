package core

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testMeta is the timing of commands in state machine tests: transactions
// start at clock 0 with a 1 s prepare window and a minute's retention.
var testMeta = txnMeta{window: int64(time.Second), keep: int64(time.Minute)}

// shortLocks makes expired locks quick to wait out.
func shortLocks(cfg *Config) { cfg.TxnLockTimeout = 200 * time.Millisecond }

func mustGet(t *testing.T, c *Cluster, key string) string {
	t.Helper()
	v, err := c.Get(testContext(t), key)
	if errors.Is(err, ErrNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return string(v)
}

func TestTxnCommitsAcrossShards(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b, d := keyOn(c, 0, "a"), keyOn(c, 1, "b"), keyOn(c, 2, "d")
	res, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(a, []byte("1")), Set(b, []byte("2")), Add(d, 7)}})
	if err != nil || !res.Committed {
		t.Fatalf("Txn = %+v, %v; want committed", res, err)
	}
	if res.Participants != 3 || res.Prepare <= 0 || res.Decide <= 0 || res.Commit <= 0 {
		t.Errorf("result %+v: want 3 participants and every phase timed", res)
	}
	for k, want := range map[string]string{a: "1", b: "2", d: "7"} {
		if got := mustGet(t, c, k); got != want {
			t.Errorf("Get(%s) = %s, want %s", k, got, want)
		}
	}
	if n := c.Locks(); n != 0 {
		t.Errorf("%d locks left after commit", n)
	}
}

func TestTxnRejectsBadInput(t *testing.T) {
	c := newTestCluster(t, 1)
	for name, txn := range map[string]Txn{
		"empty":     {},
		"duplicate": {Ops: []Op{Set("k", nil), Add("k", 1)}},
		"zero op":   {Ops: []Op{{Key: "k"}}},
	} {
		if _, err := c.Txn(testContext(t), txn); err == nil || errors.Is(err, ErrAborted) {
			t.Errorf("%s: err = %v, want a usage error", name, err)
		}
	}
}

func TestTxnConflictAbortsWithoutWaiting(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b, d := keyOn(c, 0, "a"), keyOn(c, 1, "b"), keyOn(c, 2, "d")
	// The first transaction's coordinator (d's shard, which takes no locks)
	// "dies" holding a's lock.
	if _, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(d, []byte("held")), Set(a, []byte("held"))}}, phasePrepare); !errors.Is(err, errTxnStopped) {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(b, []byte("x")), Set(a, []byte("y"))}})
	if !errors.Is(err, ErrAborted) || !errors.Is(err, ErrConflict) || res.Abort != AbortConflict {
		t.Fatalf("Txn = %+v, %v; want a conflict abort", res, err)
	}
	if waited := time.Since(start); waited > c.cfg.txnLockTimeout() {
		t.Errorf("conflicting txn took %v: it waited for the lock", waited)
	}
	if got := mustGet(t, c, b); got != "<none>" {
		t.Errorf("aborted txn's write is visible: %s = %s", b, got)
	}
	if got := mustGet(t, c, a); got != "<none>" {
		t.Errorf("intent is visible: %s = %s", a, got)
	}
	if n := c.Locks(); n != 1 {
		t.Errorf("%d locks, want only the stopped txn's one", n)
	}
}

func TestTxnConditionFailureLeavesNoIntent(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b := keyOn(c, 0, "acct"), keyOn(c, 1, "acct")
	if _, err := c.Txn(testContext(t), Txn{Ops: []Op{Add(a, 5), Add(b, 5)}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Txn(testContext(t), Txn{Ops: []Op{Add(a, -10), Add(b, 10)}})
	if !errors.Is(err, ErrConditionFailed) || !errors.Is(err, ErrAborted) || res.Abort != AbortCondition {
		t.Fatalf("overdraft: %+v, %v; want a condition abort", res, err)
	}
	if n := c.Locks(); n != 0 {
		t.Errorf("%d locks left by an aborted txn", n)
	}
	if ga, gb := mustGet(t, c, a), mustGet(t, c, b); ga != "5" || gb != "5" {
		t.Errorf("balances %s, %s after an aborted transfer; want 5, 5", ga, gb)
	}
}

// A coordinator that dies after prepare leaves locks on the other
// participants that a later transaction resolves once they expire: aborted
// with no decision record, committed with one. The coordinator's own keys
// are written with the decision, so they never hold locks.
func TestTxnCoordinatorDeathIsResolved(t *testing.T) {
	for _, tt := range []struct {
		name  string
		phase txnPhase
		want  string // the values the stopped txn's keys end with
	}{
		{"before decision", phasePrepare, "later"},
		{"after decision", phaseDecide, "later"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, 3, shortLocks)
			coord, a, b := keyOn(c, 1, "coord"), keyOn(c, 0, "a"), keyOn(c, 2, "b")
			res, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(coord, []byte("dead")), Set(a, []byte("dead")), Set(b, []byte("dead"))}}, tt.phase)
			if !errors.Is(err, errTxnStopped) {
				t.Fatal(err)
			}
			if res.Committed != (tt.phase == phaseDecide) {
				t.Fatalf("stopped txn committed = %v", res.Committed)
			}
			if n := c.Locks(); n != 2 {
				t.Fatalf("%d locks after the coordinator died, want 2", n)
			}
			time.Sleep(c.cfg.txnLockTimeout())
			// Meets a's lock only: b's is resolved by ResolveLocks.
			later, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(a, []byte("later"))}})
			if err != nil || !later.Committed || later.Resolved != 1 {
				t.Fatalf("later txn = %+v, %v; want committed after resolving 1", later, err)
			}
			if n, err := c.ResolveLocks(testContext(t)); err != nil || n != 1 {
				t.Fatalf("ResolveLocks = %d, %v; want b's lock resolved", n, err)
			}
			if n := c.Locks(); n != 0 {
				t.Errorf("%d locks left after recovery", n)
			}
			wantB := "<none>"
			if tt.phase == phaseDecide {
				wantB = "dead"
			}
			if got := mustGet(t, c, a); got != "later" {
				t.Errorf("%s = %s, want later", a, got)
			}
			for _, k := range []string{b, coord} {
				if got := mustGet(t, c, k); got != wantB {
					t.Errorf("%s = %s, want %s", k, got, wantB)
				}
			}
		})
	}
}

func TestTxnLocksSurviveLeaderKill(t *testing.T) {
	c := newTestCluster(t, 3, shortLocks)
	a, b, d := keyOn(c, 0, "a"), keyOn(c, 1, "b"), keyOn(c, 2, "d")
	// a's shard coordinates: it holds the decision record, and b and d
	// the locks.
	if _, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(a, []byte("x")), Set(b, []byte("x")), Set(d, []byte("x"))}}, phaseDecide); !errors.Is(err, errTxnStopped) {
		t.Fatal(err)
	}
	for _, sh := range []int{0, 1} {
		if _, err := c.KillLeader(testContext(t), sh); err != nil {
			t.Fatalf("KillLeader(%d): %v", sh, err)
		}
	}
	if n := c.Locks(); n != 2 {
		t.Fatalf("new leaders hold %d locks, want 2", n)
	}
	time.Sleep(c.cfg.txnLockTimeout())
	if n, err := c.ResolveLocks(testContext(t)); err != nil || n != 2 {
		t.Fatalf("ResolveLocks = %d, %v; want 2", n, err)
	}
	// The decision record survived shard 0's leader change: commit.
	if ga, gb, gd := mustGet(t, c, a), mustGet(t, c, b), mustGet(t, c, d); ga != "x" || gb != "x" || gd != "x" {
		t.Errorf("after recovery %s=%s %s=%s %s=%s, want all x", a, ga, b, gb, d, gd)
	}
}

func TestTxnStateSurvivesSnapshot(t *testing.T) {
	src := newFSM()
	src.tx.locks["k"] = &lock{holder: lockHolder{txn: 7, coord: 1, start: 42}, value: []byte("v")}
	src.tx.byTxn[7] = []string{"k"}
	src.tx.putDecision(9, decision{commit: true, start: 5, window: 6, keep: 7, parts: []int{2, 3}})
	src.recordSaga(sagaKey{saga: 3, step: 1}, &sagaRecord{key: "s", state: stepApplied, kind: opAdd, delta: -4})
	dst := snapshotCopy(t, src)
	l := dst.tx.locks["k"]
	if l == nil || l.holder != (lockHolder{txn: 7, coord: 1, start: 42}) || !bytes.Equal(l.value, []byte("v")) || len(dst.tx.byTxn[7]) != 1 {
		t.Errorf("lock not restored: %+v", l)
	}
	if d, ok := dst.tx.decisions[9]; !ok || !d.commit || d.done || d.start != 5 || d.window != 6 || d.keep != 7 || !slices.Equal(d.parts, []int{2, 3}) {
		t.Errorf("decision record not restored: %+v", d)
	}
	if r := dst.tx.sagaSteps[sagaKey{3, 1}]; r == nil || r.key != "s" || r.delta != -4 || r.state != stepApplied {
		t.Errorf("saga record not restored: %+v", r)
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// TestBankInvariant moves money between accounts on different shards by
// concurrent 2PC and saga transfers, with a shard leader killed midway,
// and checks that the total is conserved and no balance went negative.
func TestBankInvariant(t *testing.T) {
	c := newTestCluster(t, 3, shortLocks)
	runBank(t, c, func(func() int64, int64) {
		if _, err := c.KillLeader(testContext(t), 1); err != nil {
			t.Errorf("KillLeader: %v", err)
		}
	})
}

// TestBankInvariantNodeCrash is TestBankInvariant with a whole node (the
// one leading shard 0) crashed once transfers are under way and restarted
// while they go on; the restarted node must catch up to the same balances.
func TestBankInvariantNodeCrash(t *testing.T) {
	c := newTestCluster(t, 3, shortLocks)
	var victim string
	keys := runBank(t, c, func(done func() int64, total int64) {
		waitFor(t, "transfers to get going", func() bool { return done() >= total/8 })
		waitFor(t, "shard 0 to have a leader", func() bool {
			victim = c.Status().Shards[0].Leader
			return victim != ""
		})
		if err := c.CrashNode(victim); err != nil {
			t.Errorf("CrashNode(%s): %v", victim, err)
			return
		}
		before := done()
		waitFor(t, "transfers without "+victim, func() bool { return done() >= min(total, before+total/4) })
		if err := c.RestartNode(testContext(t), victim); err != nil {
			t.Errorf("RestartNode(%s): %v", victim, err)
		}
	})
	for sh := range c.Shards() {
		waitCaughtUp(t, c, sh)
	}
	for _, k := range keys {
		want := mustGet(t, c, k)
		got, ok, err := c.LocalGet(victim, k)
		if err != nil || !ok || string(got) != want {
			t.Errorf("restarted %s has %s = %q (%v, %v), leader has %s", victim, k, got, ok, err, want)
		}
	}
}

// runBank funds accounts on every shard, runs concurrent 2PC and saga
// transfers between them while fault runs (given how many transfers are
// done so far, and how many there will be), and checks once all are done
// and stray locks resolved that the total is what it was and no balance is
// negative. It returns the accounts' keys.
func runBank(t *testing.T, c *Cluster, fault func(done func() int64, total int64)) []string {
	const accounts, initial, workers, rounds = 8, 100, 8, 25
	var done atomic.Int64
	keys := make([]string, accounts)
	var ops []Op
	for i := range keys {
		keys[i] = fmt.Sprintf("acct-%d", i)
		ops = append(ops, Add(keys[i], initial))
	}
	if _, err := c.Txn(testContext(t), Txn{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range rounds {
				from, to := r.IntN(accounts), r.IntN(accounts-1)
				if to >= from {
					to++
				}
				amt := int64(1 + r.IntN(60))
				var outcome string
				if i%2 == 0 {
					res, err := c.Txn(testContext(t), Txn{Ops: []Op{Add(keys[from], -amt), Add(keys[to], amt)}})
					switch {
					case err == nil:
						outcome = "txn.commit"
					case errors.Is(err, ErrAborted):
						outcome = "txn." + res.Abort.String()
					default:
						t.Errorf("transfer: %v", err)
						return
					}
				} else {
					res, err := c.Saga(testContext(t), []SagaStep{{Op: Add(keys[from], -amt)}, {Op: Add(keys[to], amt), FailProbability: 0.2}})
					switch {
					case err == nil:
						outcome = "saga.done"
					case errors.Is(err, ErrSagaFailed):
						outcome = "saga.compensated"
						if res.Injected && res.Compensated != 1 {
							t.Errorf("saga failed at step 1 compensated %d steps", res.Compensated)
						}
					default:
						t.Errorf("saga transfer: %v", err)
						return
					}
				}
				mu.Lock()
				counts[outcome]++
				mu.Unlock()
				done.Add(1)
			}
		})
	}
	fault(done.Load, workers*rounds)
	wg.Wait()
	t.Logf("outcomes: %v", counts)
	if counts["txn.commit"] == 0 || counts["saga.done"] == 0 {
		t.Errorf("no transfer got through: %v", counts)
	}
	time.Sleep(c.cfg.txnLockTimeout())
	if _, err := c.ResolveLocks(testContext(t)); err != nil {
		t.Fatal(err)
	}
	total, neg, err := c.SumInts(testContext(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	if total != accounts*initial || neg != 0 {
		t.Fatalf("total %d with %d negative balances, want %d and none", total, neg, accounts*initial)
	}
	if n := c.Locks(); n != 0 {
		t.Errorf("%d locks left", n)
	}
	return keys
}

// The coordinator's commit writes its keys and the decision in one
// command: a replay (a retry across a leader change) answers yes without
// adding twice, a decision a resolver wrote first wins, and a locked key or
// a failed condition writes nothing at all.
func TestCommitCommand(t *testing.T) {
	f := newFSM()
	apply := func(cmd []byte) vote {
		t.Helper()
		resp, ok := f.applyTxn(cmd).(voteResp)
		if !ok {
			t.Fatalf("response %v", f.applyTxn(cmd))
		}
		return resp.vote
	}
	commit := encodeCommit(1, testMeta, nil, []int{2}, []Op{Add("n", 5), Set("s", []byte("v"))})
	for range 2 {
		if v := apply(commit); v != voteYes {
			t.Fatalf("commit = %v, want yes", v)
		}
	}
	if n, s := string(f.data["n"]), string(f.data["s"]); n != "5" || s != "v" {
		t.Errorf("n=%s s=%s after a commit and its replay, want 5 and v", n, s)
	}
	f.applyTxn(encodeDecide(2, testMeta, nil)) // a resolver aborted txn 2
	if v := apply(encodeCommit(2, testMeta, nil, nil, []Op{Add("n", 1)})); v != voteResolved {
		t.Errorf("commit after an abort decision = %v, want resolved", v)
	}
	if v := apply(encodePrepare(3, 1, 0, []Op{Set("locked", nil)})); v != voteYes {
		t.Fatal(v)
	}
	if v := apply(encodeCommit(4, testMeta, nil, nil, []Op{Add("n", 1), Set("locked", nil)})); v != voteConflict {
		t.Errorf("commit on a locked key = %v, want conflict", v)
	}
	if v := apply(encodeCommit(5, testMeta, nil, nil, []Op{Add("n", 1), Add("m", -1)})); v != voteCondition {
		t.Errorf("commit of an overdraft = %v, want condition", v)
	}
	if n := string(f.data["n"]); n != "5" {
		t.Errorf("n = %s after aborted commits, want 5", n)
	}
	for _, id := range []uint64{4, 5} {
		if _, ok := f.tx.decisions[id]; ok {
			t.Errorf("aborted commit %d wrote a decision record", id)
		}
	}
	f.applyTxn(encodeCommit(6, testMeta, []uint64{1}, []int{2}, []Op{Add("n", 1)}))
	if _, ok := f.tx.decisions[1]; ok {
		t.Error("a commit's forget list did not drop decision 1")
	}
	// Txn 6 is not finished on shard 2: its record stays past its
	// retention until it is.
	f.applyTxn(encodeDone(2*(testMeta.window+testMeta.keep), nil))
	if _, ok := f.tx.decisions[6]; !ok {
		t.Fatal("an unfinished commit's record was dropped")
	}
	// Finished, and past the window and the retention, every record goes.
	f.applyTxn(encodeDone(3*(testMeta.window+testMeta.keep), []uint64{6}))
	f.applyTxn(encodeDone(5*(testMeta.window+testMeta.keep), nil))
	if len(f.tx.decisions) != 0 {
		t.Errorf("%d decision records left past their retention, want 0: %v", len(f.tx.decisions), f.tx.decisions)
	}
}

// A transaction on one shard is one command: no locks, no finish.
func TestTxnOnOneShardCommitsInOneStep(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b := keyOn(c, 1, "a"), keyOn(c, 1, "b")
	res, err := c.Txn(testContext(t), Txn{Ops: []Op{Add(a, 3), Set(b, []byte("x"))}})
	if err != nil || !res.Committed || res.Participants != 1 || res.Prepare != 0 || res.Commit != 0 || res.Decide <= 0 {
		t.Fatalf("Txn = %+v, %v; want committed in the decide step alone", res, err)
	}
	if ga, gb := mustGet(t, c, a), mustGet(t, c, b); ga != "3" || gb != "x" {
		t.Errorf("%s=%s %s=%s, want 3 and x", a, ga, b, gb)
	}
	res, err = c.Txn(testContext(t), Txn{Ops: []Op{Add(a, -4), Set(b, []byte("y"))}})
	if !errors.Is(err, ErrConditionFailed) || res.Abort != AbortCondition {
		t.Fatalf("overdraft: %+v, %v; want a condition abort", res, err)
	}
	if ga, gb := mustGet(t, c, a), mustGet(t, c, b); ga != "3" || gb != "x" {
		t.Errorf("%s=%s %s=%s after an abort, want 3 and x", a, ga, b, gb)
	}
}

// A conflict on the coordinator's own keys, found only when it decides,
// aborts the transaction and releases the other participants' locks.
func TestTxnCoordinatorConflictReleasesLocks(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b, d := keyOn(c, 0, "a"), keyOn(c, 1, "b"), keyOn(c, 2, "d")
	// d's shard coordinates the held transaction, which locks a.
	if _, err := c.txnStoppedAfter(testContext(t), Txn{Ops: []Op{Set(d, []byte("held")), Set(a, []byte("held"))}}, phasePrepare); !errors.Is(err, errTxnStopped) {
		t.Fatal(err)
	}
	res, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(a, []byte("x")), Set(b, []byte("x"))}})
	if !errors.Is(err, ErrConflict) || res.Abort != AbortConflict || res.Decide <= 0 {
		t.Fatalf("Txn = %+v, %v; want a conflict abort when deciding", res, err)
	}
	if n := c.Locks(); n != 1 {
		t.Errorf("%d locks, want only the held txn's one", n)
	}
	if got := mustGet(t, c, b); got != "<none>" {
		t.Errorf("aborted txn's write is visible: %s = %s", b, got)
	}
}

// Records dropped at once (their transactions acknowledged) leave slots
// in the drop schedule, which go once they outnumber the live records, so
// the schedule stays the size of what is kept.
func TestDecisionOrderCompacts(t *testing.T) {
	f := newFSM()
	const n = 3000
	for i := range n {
		f.applyTxn(encodeCommit(uint64(i+1), testMeta, nil, nil, nil))
	}
	var forget []uint64
	for i := range n - 10 {
		forget = append(forget, uint64(i+1))
	}
	for len(forget) > 0 {
		k := min(len(forget), maxForget)
		f.applyTxn(encodeDecide(1<<40, testMeta, forget[:k]))
		forget = forget[k:]
	}
	if len(f.tx.decisions) != 11 || len(f.tx.decOrder) > 2*n/3 {
		t.Fatalf("%d records in %d slots, want 11 records and the stale slots gone", len(f.tx.decisions), len(f.tx.decOrder))
	}
}

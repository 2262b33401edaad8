package core

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

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
	a, b := keyOn(c, 0, "a"), keyOn(c, 1, "b")
	// The first transaction's coordinator "dies" holding a's lock.
	if _, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(a, []byte("held"))}, stopAfter: phasePrepare}); !errors.Is(err, errTxnStopped) {
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

// A coordinator that dies after prepare leaves locks that a later
// transaction resolves once they expire: aborted with no decision record,
// committed with one.
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
			a, b := keyOn(c, 0, "a"), keyOn(c, 2, "b")
			res, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(a, []byte("dead")), Set(b, []byte("dead"))}, stopAfter: tt.phase})
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
			if got := mustGet(t, c, b); got != wantB {
				t.Errorf("%s = %s, want %s", b, got, wantB)
			}
		})
	}
}

func TestTxnLocksSurviveLeaderKill(t *testing.T) {
	c := newTestCluster(t, 3, shortLocks)
	a, b := keyOn(c, 0, "a"), keyOn(c, 1, "b")
	if _, err := c.Txn(testContext(t), Txn{Ops: []Op{Set(a, []byte("x")), Set(b, []byte("x"))}, stopAfter: phaseDecide}); !errors.Is(err, errTxnStopped) {
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
	if ga, gb := mustGet(t, c, a), mustGet(t, c, b); ga != "x" || gb != "x" {
		t.Errorf("after recovery %s=%s %s=%s, want both x", a, ga, b, gb)
	}
}

func TestTxnStateSurvivesSnapshot(t *testing.T) {
	src := newFSM()
	src.tx.locks["k"] = &lock{holder: lockHolder{txn: 7, coord: 1, start: 42}, value: []byte("v")}
	src.tx.byTxn[7] = []string{"k"}
	src.tx.decisions[9] = true
	src.recordSaga(sagaKey{saga: 3, step: 1}, &sagaRecord{key: "s", state: stepApplied, kind: opAdd, delta: -4})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	dst := newFSM()
	if err := dst.Restore(nopCloser{&sink.Buffer}); err != nil {
		t.Fatal(err)
	}
	l := dst.tx.locks["k"]
	if l == nil || l.holder != (lockHolder{txn: 7, coord: 1, start: 42}) || !bytes.Equal(l.value, []byte("v")) || len(dst.tx.byTxn[7]) != 1 {
		t.Errorf("lock not restored: %+v", l)
	}
	if d, ok := dst.tx.decisions[9]; !ok || !d {
		t.Error("decision record not restored")
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
	const accounts, initial = 8, 100
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
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 25 {
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
			}
		})
	}
	if _, err := c.KillLeader(testContext(t), 1); err != nil {
		t.Errorf("KillLeader: %v", err)
	}
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
}

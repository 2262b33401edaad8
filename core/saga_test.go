package core

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

func TestSagaCompletes(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b := keyOn(c, 0, "a"), keyOn(c, 1, "b")
	if _, err := c.Saga(testContext(t), []SagaStep{{Op: Add(a, 10)}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Saga(testContext(t), []SagaStep{{Op: Add(a, -4)}, {Op: Add(b, 4)}, {Op: Set(keyOn(c, 2, "note"), []byte("paid"))}})
	if err != nil || !res.Completed || res.FailedStep != -1 || res.Execution <= 0 {
		t.Fatalf("Saga = %+v, %v; want completed", res, err)
	}
	if ga, gb := mustGet(t, c, a), mustGet(t, c, b); ga != "6" || gb != "4" {
		t.Errorf("balances %s, %s; want 6, 4", ga, gb)
	}
}

func TestSagaCompensatesInReverse(t *testing.T) {
	tests := []struct {
		name     string
		steps    func(c *Cluster) []SagaStep
		reason   AbortReason
		injected bool
	}{
		{"condition", func(c *Cluster) []SagaStep {
			return []SagaStep{{Op: Add(keyOn(c, 0, "x"), 1)}, {Op: Set(keyOn(c, 1, "y"), []byte("new"))}, {Op: Add(keyOn(c, 2, "z"), -1)}}
		}, AbortCondition, false},
		{"injected", func(c *Cluster) []SagaStep {
			return []SagaStep{{Op: Add(keyOn(c, 0, "x"), 1)}, {Op: Set(keyOn(c, 1, "y"), []byte("new"))}, {Op: Add(keyOn(c, 2, "z"), 1), FailProbability: 1}}
		}, NotAborted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var order []int
			setHooks(t, testHooks{onUndo: func(_ uint64, step int, undone bool) {
				mu.Lock()
				defer mu.Unlock()
				if undone {
					order = append(order, step)
				}
			}})
			c := newTestCluster(t, 3)
			steps := tt.steps(c)
			if err := c.Put(testContext(t), steps[1].Op.Key, []byte("old")); err != nil {
				t.Fatal(err)
			}
			res, err := c.Saga(testContext(t), steps)
			if !errors.Is(err, ErrSagaFailed) || res.Completed || res.FailedStep != 2 || res.Reason != tt.reason || res.Injected != tt.injected {
				t.Fatalf("Saga = %+v, %v; want step 2 to fail", res, err)
			}
			if res.Compensated != 2 || !slices.Equal(order, []int{1, 0}) {
				t.Errorf("compensated %d steps in order %v, want 2 in order [1 0]", res.Compensated, order)
			}
			if got := mustGet(t, c, steps[0].Op.Key); got != "0" {
				t.Errorf("step 0 not undone: %s", got)
			}
			if got := mustGet(t, c, steps[1].Op.Key); got != "old" {
				t.Errorf("step 1 not undone: %s", got)
			}
		})
	}
}

// Replaying a step or its compensation, as a retry across a leader change
// may, changes nothing the second time.
func TestSagaStepsAreIdempotent(t *testing.T) {
	c := newTestCluster(t, 3)
	key := keyOn(c, 1, "k")
	sh := c.shardFor(key)
	step := encodeSagaStep(99, 0, Add(key, 5), txnMeta{}, nil)
	for range 3 {
		if _, err := c.propose(testContext(t), sh, step, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustGet(t, c, key); got != "5" {
		t.Fatalf("after replaying a step 3 times: %s, want 5", got)
	}
	for i := range 3 {
		undone, err := c.undoStep(testContext(t), 99, 0, key)
		if err != nil || undone != (i == 0) {
			t.Fatalf("compensation %d: undone=%v, %v", i, undone, err)
		}
	}
	if got := mustGet(t, c, key); got != "0" {
		t.Fatalf("after compensating 3 times: %s, want 0", got)
	}
	// A step arriving after its compensation stays undone.
	if undone, err := c.undoStep(testContext(t), 100, 0, key); err != nil || undone {
		t.Fatal(undone, err)
	}
	if _, err := c.propose(testContext(t), sh, encodeSagaStep(100, 0, Add(key, 5), txnMeta{}, nil), "test"); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, key); got != "0" {
		t.Fatalf("late step applied after its compensation: %s", got)
	}
}

// The records of a saga that ended cleanly go with the next saga command
// their shard applies; those of a saga that saw an error stay.
func TestSagaRecordsForgotten(t *testing.T) {
	c := newTestCluster(t, 3)
	a, b := keyOn(c, 0, "a"), keyOn(c, 1, "b")
	records := func(shard int, saga uint64) int {
		rep, err := c.shards[shard].leaderReplica()
		if err != nil {
			t.Fatal(err)
		}
		rep.fsm.mu.RLock()
		defer rep.fsm.mu.RUnlock()
		n := 0
		for k := range rep.fsm.tx.sagaSteps {
			if k.saga == saga {
				n++
			}
		}
		return n
	}
	first, err := c.Saga(testContext(t), []SagaStep{{Op: Add(a, 1)}, {Op: Add(b, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if records(0, first.ID) != 1 || records(1, first.ID) != 1 {
		t.Fatal("a running saga's steps are not recorded")
	}
	failed, err := c.Saga(testContext(t), []SagaStep{{Op: Add(a, 1)}, {Op: Add(b, -5)}})
	if !errors.Is(err, ErrSagaFailed) {
		t.Fatal(err)
	}
	if records(0, first.ID) != 0 || records(1, first.ID) != 0 {
		t.Error("records of a completed saga outlived the next saga's commands")
	}
	if _, err := c.Saga(testContext(t), []SagaStep{{Op: Add(a, 1)}, {Op: Add(b, 1)}}); err != nil {
		t.Fatal(err)
	}
	if records(0, failed.ID) != 0 || records(1, failed.ID) != 0 {
		t.Error("records of a compensated saga outlived the next saga's commands")
	}
}

// Forgotten records leave stale slots in the eviction order, which are
// dropped once they outnumber the live ones; a snapshot holds the live
// records only, and restores their order.
func TestSagaOrderCompacts(t *testing.T) {
	f := newFSM()
	const n = 3000
	for i := range n {
		f.recordSaga(sagaKey{saga: uint64(i), step: 0}, &sagaRecord{key: "k", state: stepApplied})
	}
	var forget []sagaKey
	for i := range n - 10 {
		forget = append(forget, sagaKey{saga: uint64(i)})
	}
	for len(forget) > 0 {
		k := min(len(forget), maxForget)
		f.applyTxn(encodeSagaUndo(1<<40, 0, 1, txnMeta{}, forget[:k]))
		forget = forget[k:]
	}
	if len(f.tx.sagaSteps) != 11 || len(f.tx.sagaOrder) > 2*n/3 {
		t.Fatalf("%d records in %d slots, want 11 records and the stale slots gone", len(f.tx.sagaSteps), len(f.tx.sagaOrder))
	}
	dst := snapshotCopy(t, f)
	var got []uint64
	for _, sl := range dst.tx.sagaOrder {
		got = append(got, sl.key.saga)
	}
	want := []uint64{n - 10, n - 9, n - 8, n - 7, n - 6, n - 5, n - 4, n - 3, n - 2, n - 1, 1 << 40}
	if !slices.Equal(got, want) {
		t.Errorf("restored order %v, want %v", got, want)
	}
}

// A compensation's command retried after it applied (its answer lost in a
// leader change) still reports the step undone, and a snapshot keeps what
// tells the two apart; another compensation of the step finds nothing to
// undo.
func TestSagaUndoReplayReportsUndone(t *testing.T) {
	f := newFSM()
	undo := func(f *fsm, token uint64) vote {
		return f.applyTxn(encodeSagaUndo(7, 0, token, txnMeta{}, nil)).(voteResp).vote
	}
	f.applyTxn(encodeSagaStep(7, 0, Add("k", 5), txnMeta{}, nil))
	if v := undo(f, 11); v != voteYes {
		t.Fatalf("compensation = %v, want yes", v)
	}
	restored := snapshotCopy(t, f)
	for name, f := range map[string]*fsm{"live": f, "restored": restored} {
		if v := undo(f, 11); v != voteYes {
			t.Errorf("%s: replayed compensation = %v, want yes", name, v)
		}
		if v := undo(f, 12); v != voteCondition {
			t.Errorf("%s: another compensation = %v, want condition", name, v)
		}
		if v := undo(f, 11); v != voteYes {
			t.Errorf("%s: replay after another compensation = %v, want yes", name, v)
		}
		if got := string(f.data["k"]); got != "0" {
			t.Errorf("%s: k = %s after compensations, want 0", name, got)
		}
	}
}

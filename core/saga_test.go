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
			c := newTestCluster(t, 3)
			var mu sync.Mutex
			var order []int
			c.txn.onUndo = func(_ uint64, step int, undone bool) {
				mu.Lock()
				defer mu.Unlock()
				if undone {
					order = append(order, step)
				}
			}
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
	step := encodeSagaStep(99, 0, Add(key, 5))
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
	if _, err := c.propose(testContext(t), sh, encodeSagaStep(100, 0, Add(key, 5)), "test"); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, key); got != "0" {
		t.Fatalf("late step applied after its compensation: %s", got)
	}
}

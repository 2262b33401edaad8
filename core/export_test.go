package core

import (
	"context"
	"sync"
	"testing"
)

// The one place tests set the package's test hooks (hooks.go).

// setHooks installs h for the rest of t. Call it before starting the
// cluster it is for: its cleanup then runs after that cluster's Close, so
// no raft goroutine reads the hooks while they are reset.
func setHooks(t testing.TB, h testHooks) {
	t.Helper()
	old := hooks
	hooks = h
	t.Cleanup(func() { hooks = old })
}

// txnStoppedAfter runs t as Txn does, but its coordinator stops after
// phase as if it had died there: it returns errTxnStopped. The test calls
// no other Txn meanwhile.
func (c *Cluster) txnStoppedAfter(ctx context.Context, t Txn, phase txnPhase) (TxnResult, error) {
	hooks.txnStopAfter = phase
	defer func() { hooks.txnStopAfter = phaseNone }()
	return c.Txn(ctx, t)
}

// pipelineCount counts, per replica, the append pipelines its transport
// opened and those whose relay still runs; its add is a testHooks'
// onPipeline.
type pipelineCount struct {
	mu       sync.Mutex
	opened   map[*replica]int64
	relaying map[*replica]int64
}

func newPipelineCount() *pipelineCount {
	return &pipelineCount{opened: make(map[*replica]int64), relaying: make(map[*replica]int64)}
}

func (pc *pipelineCount) add(r *replica, delta int) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if delta > 0 {
		pc.opened[r] += int64(delta)
	}
	pc.relaying[r] += int64(delta)
}

// counts returns the pipelines opened by the current replicas of shards,
// and those of them whose relay still runs.
func (pc *pipelineCount) counts(shards ...*shard) (opened, relaying int64) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, sh := range shards {
		for _, st := range sh.seats() {
			opened += pc.opened[st.replica()]
			relaying += pc.relaying[st.replica()]
		}
	}
	return opened, relaying
}

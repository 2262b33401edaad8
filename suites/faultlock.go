package suites

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// errFaultRefused wraps why the runner refused a fault: another fault of
// the same shard still runs, or the fault would cost a shard its quorum.
var errFaultRefused = errors.New("fault refused")

// shardFaults serialises the faults on each shard: a leader kill holds
// its shard from the call until the successor leads and the killed
// replica is back, so two kills never take down two replicas of one
// shard at once — which, on three replicas, leaves no quorum to elect
// anyone. The suites' kills wait their turn; the runner's own (a script,
// a key, the nemesis) are refused with an event. Any goroutine may call
// it.
type shardFaults struct {
	mu   sync.Mutex
	held map[int]*faultHold
}

type faultHold struct {
	by   string        // who holds the shard: "kill-leader", "the election probe"
	done chan struct{} // closed on release
}

// try takes shard for by, or returns who holds it.
func (f *shardFaults) try(shard int, by string) (holder string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.held[shard]; h != nil {
		return h.by, false
	}
	if f.held == nil {
		f.held = map[int]*faultHold{}
	}
	f.held[shard] = &faultHold{by: by, done: make(chan struct{})}
	return "", true
}

// wait takes shard for by once whoever holds it lets go, or returns
// ctx's error; holder is who it waited for.
func (f *shardFaults) wait(ctx context.Context, shard int, by string) (holder string, err error) {
	for {
		f.mu.Lock()
		h := f.held[shard]
		f.mu.Unlock()
		if h == nil {
			if _, ok := f.try(shard, by); ok {
				return holder, nil
			}
			continue
		}
		holder = h.by
		select {
		case <-h.done:
		case <-ctx.Done():
			return holder, ctx.Err()
		}
	}
}

// release lets go of shard.
func (f *shardFaults) release(shard int) {
	f.mu.Lock()
	h := f.held[shard]
	delete(f.held, shard)
	f.mu.Unlock()
	if h != nil {
		close(h.done)
	}
}

// killCostsQuorum says why killing shard's leader now would leave the
// shard below a quorum of live replicas, or "". A replica is live when it
// runs (not shut down, as a killed one is until its successor leads) on a
// node that is up and not partitioned off.
func killCostsQuorum(st core.Status, shard int) string {
	live := make(map[string]bool, len(st.Nodes))
	for _, n := range st.Nodes {
		live[n.ID] = n.Up && !n.Partitioned
	}
	for _, sh := range st.Shards {
		if sh.ID != shard {
			continue
		}
		n := 0
		for _, r := range sh.Replicas {
			if r.State != "shutdown" && live[r.Node] {
				n++
			}
		}
		if quorum := len(sh.Replicas)/2 + 1; n-1 < quorum {
			return fmt.Sprintf("killing shard %d's leader would leave it %d of %d live replicas, below its quorum of %d", shard, n-1, len(sh.Replicas), quorum)
		}
	}
	return ""
}

// guardedDB is the database as the suites get it: their leader kills (the
// consensus suite's election probe) go through the runner's per-shard
// serialisation and quorum guard, so a probe and a scripted kill of the
// same shard never run at once. Every other call goes straight through.
type guardedDB struct {
	DB
	faults *shardFaults
	events *eventLog
	causes *causeBook // the suites' kills and membership changes cause elections
}

// AddNode adds a node, recorded as a cause of the elections it brings.
func (g guardedDB) AddNode(ctx context.Context) (string, error) {
	defer g.causes.begin("node_add", nil)()
	return g.DB.AddNode(ctx)
}

// RemoveNode removes a node, recorded as a cause of the elections it
// brings.
func (g guardedDB) RemoveNode(ctx context.Context, node string) error {
	defer g.causes.begin("node_remove", nil)()
	return g.DB.RemoveNode(ctx, node)
}

// KillLeader waits for any other fault of shard to finish, refuses a kill
// that would cost the shard its quorum, and reports in the events a wait
// and any refusal, the core's included.
func (g guardedDB) KillLeader(ctx context.Context, shard int) (string, error) {
	const by = "a suite's kill-leader (the election probe)"
	if holder, ok := g.faults.try(shard, by); !ok {
		g.events.later(metrics.EventFault, fmt.Sprintf("shard %d: %s waits for %s to finish", shard, by, holder))
		if _, err := g.faults.wait(ctx, shard, by); err != nil {
			return "", err
		}
	}
	defer g.faults.release(shard)
	if why := killCostsQuorum(g.DB.Status(), shard); why != "" {
		g.events.later(metrics.EventFault, fmt.Sprintf("shard %d: %s refused: %s", shard, by, why))
		return "", fmt.Errorf("%w: %s", errFaultRefused, why)
	}
	endCause := g.causes.begin("kill-leader", []int{shard})
	node, err := g.DB.KillLeader(ctx, shard)
	endCause()
	if err != nil && ctx.Err() == nil {
		g.events.later(metrics.EventFault, fmt.Sprintf("shard %d: %s refused or failed: %v", shard, by, err))
	}
	return node, err
}

package core

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

// The cluster harness, after raft's testing.go: make a cluster of N with
// raft's logs in t.Log, find the leader, wait until replicas converge.

// TestMain fails the run if any goroutine outlives the tests: Close must
// leave nothing behind, raft's goroutines included. No library goroutine
// needs ignoring.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in the tests. It is generous because the
// race detector on a two-core machine, shared with the other packages'
// tests, slows raft a lot (a 20-node cluster has taken over 10s to start
// there); a healthy run waits milliseconds, and the bound only catches a
// hang.
const waitTimeout = 30 * time.Second

// logWriter sends raft's log lines to t.Log, so they show only when a test
// fails. It goes quiet when the test ends, because testing panics on a Log
// after that and a late raft line must not crash a passing run.
type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *logWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// newTestCluster starts a cluster of n nodes, applies opts to its config and
// closes it when the test ends.
func newTestCluster(t testing.TB, n int, opts ...func(*Config)) *Cluster {
	t.Helper()
	w := &logWriter{t: t}
	// Cleanups run last-registered first: this one runs after Close.
	t.Cleanup(w.stop)
	cfg := DefaultConfig()
	cfg.Nodes = n
	cfg.LogOutput = w
	if raceEnabled && n >= bigCluster {
		// Under the race detector the heartbeats of a big cluster's many
		// groups (every 5 ms to every follower at 50 ms timeouts) take
		// both cores, replies come later than election timeouts, and
		// votes split for many rounds. Tests of a big cluster check
		// placement and routing, not timing: give raft room.
		cfg.HeartbeatTimeout *= raceTimeoutScale
		cfg.ElectionTimeout *= raceTimeoutScale
		cfg.LeaderLeaseTimeout *= raceTimeoutScale
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	c, err := NewCluster(testContext(t), cfg)
	if err != nil {
		t.Fatalf("NewCluster(%d nodes): %v", n, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// A cluster of bigCluster nodes or more runs with raft's timeouts
// raceTimeoutScale times longer under the race detector.
const (
	bigCluster       = 10
	raceTimeoutScale = 4
)

// testContext ends after waitTimeout or with the test.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// oneShard is an option for tests of a single Raft group.
func oneShard(cfg *Config) { cfg.Shards = 1 }

// replicaNodes returns the ids of the nodes hosting a replica of shard 0.
func replicaNodes(c *Cluster) []string { return shardNodes(c, 0) }

// shardNodes returns the ids of the nodes hosting a replica of a shard.
func shardNodes(c *Cluster, shard int) []string {
	var ids []string
	for _, st := range c.shards[shard].seats() {
		ids = append(ids, st.node.id)
	}
	return ids
}

// keyOn returns a key that hashes to shard, with prefix.
func keyOn(c *Cluster, shard int, prefix string) string {
	for i := 0; ; i++ {
		k := prefix + "-" + strconv.Itoa(i)
		if c.ShardOf(k) == shard {
			return k
		}
	}
}

// appliedIndex returns the applied index of node's replica of shard, as
// Status reports it.
func appliedIndex(t testing.TB, c *Cluster, shard int, node string) uint64 {
	t.Helper()
	for _, r := range c.Status().Shards[shard].Replicas {
		if r.Node == node {
			return r.AppliedIndex
		}
	}
	t.Fatalf("%s hosts no replica of shard %d", node, shard)
	return 0
}

// waitCaughtUp waits until every replica of shard has applied everything its
// leader has committed as of the call.
func waitCaughtUp(t testing.TB, c *Cluster, shard int) {
	t.Helper()
	var target uint64
	waitFor(t, fmt.Sprintf("shard %d to have a leader", shard), func() bool {
		st := c.Status().Shards[shard]
		for _, r := range st.Replicas {
			if r.Node == st.Leader {
				target = r.CommitIndex
				return true
			}
		}
		return false
	})
	waitFor(t, fmt.Sprintf("shard %d replicas to apply index %d", shard, target), func() bool {
		for _, r := range c.Status().Shards[shard].Replicas {
			if r.AppliedIndex < target {
				return false
			}
		}
		return true
	})
}

// waitReplicated waits until every replica on nodes has applied key = want.
func waitReplicated(t testing.TB, c *Cluster, nodes []string, key string, want []byte) {
	t.Helper()
	for _, id := range nodes {
		waitFor(t, key+" applied on "+id, func() bool {
			got, ok, err := c.LocalGet(id, key)
			if err != nil {
				t.Fatalf("LocalGet(%s, %s): %v", id, key, err)
			}
			return ok && bytes.Equal(got, want)
		})
	}
}

// logSpan is the test hook into a replica's log store: the first and last
// index it holds.
// logEntries counts the entries node's shard-0 log really holds. It can be
// fewer than logSpan says: after a follower installs a snapshot from its
// leader, raft's in-memory store keeps a first index below a gap that will
// never be filled.
func logEntries(t testing.TB, c *Cluster, node string) uint64 {
	t.Helper()
	first, last := logSpan(t, c, node)
	st := c.byID[node].seatOf(0)
	var n uint64
	var l raft.Log
	for i := first; i <= last && last > 0; i++ {
		if st.logs.GetLog(i, &l) == nil {
			n++
		}
	}
	return n
}

func logSpan(t testing.TB, c *Cluster, node string) (first, last uint64) {
	t.Helper()
	st := c.byID[node].seatOf(0)
	first, err := st.logs.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err = st.logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return first, last
}

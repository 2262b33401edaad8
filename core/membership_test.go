package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// writer puts fresh keys one after another until stopped, and remembers
// every write that was acknowledged.
type writer struct {
	c     *Cluster
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	acked []string
	fails int
}

func startWriter(t *testing.T, c *Cluster) *writer {
	w := &writer{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k := "w-" + strconv.Itoa(i)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			err := c.Put(ctx, k, []byte(k))
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, k)
			} else {
				w.fails++
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// finish stops the writer and checks that every acknowledged write reads
// back.
func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	t.Logf("writer: %d writes acknowledged, %d failed", len(w.acked), w.fails)
	if len(w.acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	for _, k := range w.acked {
		v, err := w.c.Get(testContext(t), k)
		if err != nil || !bytes.Equal(v, []byte(k)) {
			t.Fatalf("acknowledged write %s reads back %q, %v", k, v, err)
		}
	}
}

// checkGroups checks every group: exactly one leader, replicas on distinct
// nodes, min(3, nodes) of them, and a Raft configuration of exactly those
// replicas, all voters.
func checkGroups(t *testing.T, c *Cluster) {
	t.Helper()
	rf := min(replicationFactor, len(c.Status().Nodes))
	for _, sh := range c.groups() {
		if _, err := c.waitLeader(testContext(t), sh, "check"); err != nil {
			t.Fatalf("shard %d: %v", sh.id, err)
		}
		var nodes []string
		for _, st := range sh.seats() {
			nodes = append(nodes, st.node.id)
		}
		leaders := 0
		for _, st := range sh.seats() {
			if st.replica().leading() {
				leaders++
			}
		}
		if leaders != 1 {
			t.Errorf("shard %d has %d leaders", sh.id, leaders)
		}
		if len(nodes) != rf || len(slices.Compact(slices.Sorted(slices.Values(nodes)))) != rf {
			t.Errorf("shard %d replicas on %v, want %d distinct nodes", sh.id, nodes, rf)
		}
		rep, _ := sh.leaderReplica()
		f := rep.raft.GetConfiguration()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		var cfg []string
		for _, s := range f.Configuration().Servers {
			if s.Suffrage != raft.Voter {
				t.Errorf("shard %d: %s is %v", sh.id, s.ID, s.Suffrage)
			}
			cfg = append(cfg, string(s.ID))
		}
		slices.Sort(cfg)
		slices.Sort(nodes)
		if !slices.Equal(cfg, nodes) {
			t.Errorf("shard %d: raft configuration %v, seats on %v", sh.id, cfg, nodes)
		}
		// The meta group's record of the placement agrees.
		var placed []string
		mr, _ := c.metaReader()
		if v, ok := mr.localGet(placementKey(sh)); !ok || json.Unmarshal(v, &placed) != nil {
			t.Errorf("shard %d: no placement record in the meta group", sh.id)
		}
		slices.Sort(placed)
		if !slices.Equal(placed, nodes) {
			t.Errorf("shard %d: meta group places it on %v, seats on %v", sh.id, placed, nodes)
		}
	}
}

// checkSpread checks that every node hosts S×RF/N replicas give or take one
// and leads at most ceil(S/N) shards.
func checkSpread(t *testing.T, c *Cluster) {
	t.Helper()
	st := c.Status()
	n := len(st.Nodes)
	total := len(st.Shards) * min(replicationFactor, n)
	maxLead := (len(st.Shards) + n - 1) / n
	for _, ns := range st.Nodes {
		if ns.Replicas < total/n || ns.Replicas > (total+n-1)/n+1 {
			t.Errorf("%s hosts %d replicas, want about %d/%d", ns.ID, ns.Replicas, total, n)
		}
		if ns.Leaderships > maxLead {
			t.Errorf("%s leads %d shards, want at most %d", ns.ID, ns.Leaderships, maxLead)
		}
	}
}

func TestAddNodeUnderLoad(t *testing.T) {
	c := newTestCluster(t, 5)
	w := startWriter(t, c)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	id, err := c.AddNode(testContext(t))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("AddNode: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	w.finish(t)
	t.Logf("AddNode (5 nodes, 5 shards) added %s in %v", id, took)
	checkGroups(t, c)
	checkSpread(t, c)
	st := c.Status()
	if last := st.Nodes[len(st.Nodes)-1]; last.ID != id || last.Replicas < 2 || last.State != StateUp {
		t.Errorf("new node: %+v, want %s up with at least 2 replicas", last, id)
	}
	if err := c.Heartbeat(testContext(t), id); err != nil {
		t.Errorf("Heartbeat from the new node: %v", err)
	}
}

func TestRemoveNodeUnderLoad(t *testing.T) {
	c := newTestCluster(t, 5)
	w := startWriter(t, c)
	time.Sleep(50 * time.Millisecond)
	// n1 hosts a meta voter and leads shard 0.
	start := time.Now()
	err := c.RemoveNode(testContext(t), "n1")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("RemoveNode: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	w.finish(t)
	t.Logf("RemoveNode (5 nodes, 5 shards) removed n1 in %v", took)
	checkGroups(t, c)
	checkSpread(t, c)
	for _, n := range c.Status().Nodes {
		if n.ID == "n1" {
			t.Error("Status still lists n1")
		}
	}
	if err := c.RemoveNode(testContext(t), "n1"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("removing n1 again = %v, want ErrUnknownNode", err)
	}
	if _, err := c.ShardLeader(testContext(t), 0); err != nil {
		t.Error(err)
	}
}

func TestRemoveCrashedNode(t *testing.T) {
	c := newTestCluster(t, 4)
	k := keyOn(c, 0, "k")
	if err := c.Put(testContext(t), k, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.CrashNode("n2"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNode(testContext(t), "n2"); err != nil {
		t.Fatalf("RemoveNode of a crashed node: %v", err)
	}
	checkGroups(t, c)
	if v, err := c.Get(testContext(t), k); err != nil || string(v) != "v" {
		t.Errorf("Get = %q, %v", v, err)
	}
}

func TestGrowFromOneNodeAndShrinkBack(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.Shards = 3 })
	w := startWriter(t, c)
	for range 3 {
		if _, err := c.AddNode(testContext(t)); err != nil {
			t.Fatalf("AddNode: %v", err)
		}
		checkGroups(t, c)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if err := c.RemoveNode(testContext(t), id); err != nil {
			t.Fatalf("RemoveNode(%s): %v", id, err)
		}
		checkGroups(t, c)
	}
	w.finish(t)
	if err := c.RemoveNode(testContext(t), "n4"); !errors.Is(err, ErrLastNode) {
		t.Errorf("removing the last node = %v, want ErrLastNode", err)
	}
}

func TestMembershipErrors(t *testing.T) {
	c := newTestCluster(t, 2, func(cfg *Config) { cfg.MaxNodes = 3 })
	if err := c.RemoveNode(testContext(t), "n7"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("RemoveNode(n7) = %v, want ErrUnknownNode", err)
	}
	if _, err := c.AddNode(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode(testContext(t)); !errors.Is(err, ErrTooManyNodes) {
		t.Errorf("AddNode past MaxNodes = %v, want ErrTooManyNodes", err)
	}
	checkGroups(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("AddNode after Close = %v, want ErrClosed", err)
	}
	if err := c.RemoveNode(testContext(t), "n1"); !errors.Is(err, ErrClosed) {
		t.Errorf("RemoveNode after Close = %v, want ErrClosed", err)
	}
}

// Close in the middle of membership changes stops everything they started;
// TestMain's goleak check catches a replica left running.
func TestCloseDuringMembershipChanges(t *testing.T) {
	c := newTestCluster(t, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if _, err := c.AddNode(t.Context()); err != nil {
				return
			}
		}
	})
	wg.Go(func() {
		for _, id := range []string{"n1", "n2", "n3"} {
			if err := c.RemoveNode(t.Context(), id); err != nil {
				return
			}
		}
	})
	time.Sleep(150 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
}

// A leader's replica leaving its group hands the leadership to a voter
// that is caught up, never to a nonvoter still catching up (an AddNode
// under way), which raft would send the handover and nobody would be
// elected: the removal then waited out its deadline. Here the nonvoter is
// the last seat added and cannot catch up at all (its node is cut off).
func TestRemoveLeaderSkipsANonvoterCatchingUp(t *testing.T) {
	c := newTestCluster(t, 4, oneShard)
	ctx := testContext(t)
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	sh := c.shards[0]
	var spare *node
	for _, n := range c.nodes {
		if n.seatOf(sh.id) == nil {
			spare = n
		}
	}
	if spare == nil {
		t.Fatal("every node hosts the shard")
	}
	if err := c.Partition(spare.id); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() {
		actx, cancel := context.WithTimeout(ctx, 4*time.Second)
		defer cancel()
		_, err := c.addReplica(actx, sh, spare)
		added <- err
	}()
	waitFor(t, "the nonvoter's seat", func() bool {
		st := spare.seatOf(sh.id)
		return st != nil && st.nonvoter.Load()
	})
	leader, err := c.waitLeader(ctx, sh, "test")
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.removeReplica(rctx, leader.seat); err != nil {
		t.Fatalf("removing the leader's replica while a nonvoter catches up: %v", err)
	}
	next, err := c.waitLeader(ctx, sh, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leadership moved from %s to %s; the replica left in %v", leader.node.id, next.node.id, time.Since(start))
	if next.node == spare || next.node == leader.node {
		t.Errorf("the shard is led from %s", next.node.id)
	}
	c.Heal()
	if err := <-added; err != nil {
		t.Logf("the add under way: %v", err)
	}
}

package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestShardsSpreadKeysReplicasAndLeaders(t *testing.T) {
	tests := []struct {
		nodes, shards int
		wantShards    int
	}{
		{nodes: 20, shards: 0, wantShards: 20}, // the seed's cluster
		{nodes: 5, shards: 7, wantShards: 7},
		{nodes: 2, shards: 3, wantShards: 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d nodes %d shards", tt.nodes, tt.shards), func(t *testing.T) {
			start := time.Now()
			c := newTestCluster(t, tt.nodes, func(cfg *Config) { cfg.Shards = tt.shards })
			t.Logf("%d nodes, %d shards ready in %v", tt.nodes, tt.wantShards, time.Since(start))
			ctx := testContext(t)
			if c.Shards() != tt.wantShards {
				t.Fatalf("Shards() = %d, want %d", c.Shards(), tt.wantShards)
			}

			// Keys land on every shard, and routing is stable.
			hits := make([]int, tt.wantShards)
			for i := range 100 * tt.wantShards {
				hits[c.ShardOf("key-"+strconv.Itoa(i))]++
			}
			for s, n := range hits {
				if n < 30 {
					t.Errorf("shard %d got %d of %d keys", s, n, 100*tt.wantShards)
				}
			}
			if a, b := c.ShardOf("stable"), shardIndex("stable", tt.wantShards); a != b {
				t.Errorf("ShardOf is not a pure function of the key")
			}

			// A busy machine (the race detector slows heartbeats) can start
			// a spurious election; wait until every shard has one leader.
			var st Status
			waitFor(t, "one leader per shard", func() bool {
				st = c.Status()
				for _, sh := range st.Shards {
					leaders := 0
					for _, r := range sh.Replicas {
						if r.State == "leader" {
							leaders++
						}
					}
					if leaders != 1 || sh.Leader == "" {
						return false
					}
				}
				return true
			})
			if len(st.Shards) != tt.wantShards {
				t.Fatalf("status lists %d shards, want %d", len(st.Shards), tt.wantShards)
			}
			rf := min(3, tt.nodes)
			perNode := map[string]int{}
			for _, sh := range st.Shards {
				if len(sh.Replicas) != rf {
					t.Errorf("shard %d has %d replicas, want %d", sh.ID, len(sh.Replicas), rf)
				}
				leaders := 0
				nodes := map[string]bool{}
				for _, r := range sh.Replicas {
					perNode[r.Node]++
					nodes[r.Node] = true
					if r.State == "leader" {
						leaders++
					}
				}
				if len(nodes) != rf {
					t.Errorf("shard %d has two replicas on one node: %v", sh.ID, sh.Replicas)
				}
				if leaders != 1 || sh.Leader == "" {
					t.Errorf("shard %d: %d replicas leading, leader %q; want exactly one", sh.ID, leaders, sh.Leader)
				}
			}
			maxLead := (tt.wantShards + tt.nodes - 1) / tt.nodes
			// NewCluster balanced leaderships; a spurious election since
			// (the race detector slows heartbeats) may have moved one,
			// which BalanceLeaders moves back.
			waitFor(t, "balanced leaderships", func() bool {
				led := 0
				for _, n := range c.Status().Nodes {
					led += n.Leaderships
					if n.Leaderships > maxLead {
						if err := c.BalanceLeaders(ctx); err != nil {
							t.Fatal(err)
						}
						return false
					}
				}
				return led == tt.wantShards // none mid-election
			})
			st = c.Status()
			lo, hi := tt.wantShards*rf/tt.nodes, (tt.wantShards*rf+tt.nodes-1)/tt.nodes
			total := 0
			for _, n := range st.Nodes {
				if n.Replicas != perNode[n.ID] {
					t.Errorf("%s reports %d replicas, shards place %d on it", n.ID, n.Replicas, perNode[n.ID])
				}
				if n.Replicas < lo || n.Replicas > hi {
					t.Errorf("%s hosts %d replicas, want %d..%d", n.ID, n.Replicas, lo, hi)
				}
				if n.Leaderships > maxLead {
					t.Errorf("%s leads %d shards, want at most %d", n.ID, n.Leaderships, maxLead)
				}
				total += n.Leaderships
			}
			if total != tt.wantShards {
				t.Errorf("nodes lead %d shards in all, want %d", total, tt.wantShards)
			}

			// Every shard serves reads and writes.
			for s := range tt.wantShards {
				k := keyOn(c, s, "probe")
				if err := c.Put(ctx, k, []byte(k)); err != nil {
					t.Fatalf("Put(%s) on shard %d: %v", k, s, err)
				}
				if got, err := c.Get(ctx, k); err != nil || string(got) != k {
					t.Fatalf("Get(%s) = %q, %v", k, got, err)
				}
				waitReplicated(t, c, shardNodes(c, s), k, []byte(k))
			}
		})
	}
}

func TestKillLeaderKeepsWritesAndIsObserved(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	const shard = 1
	before := keyOn(c, shard, "before")
	if err := c.Put(ctx, before, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	_, since := c.Elections(0)

	killed, err := c.KillLeader(ctx, shard)
	if err != nil {
		t.Fatalf("KillLeader: %v", err)
	}
	if got, err := c.Get(ctx, before); err != nil || string(got) != "v1" {
		t.Fatalf("Get after KillLeader = %q, %v; want v1", got, err)
	}
	after := keyOn(c, shard, "after")
	if err := c.Put(ctx, after, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	leader, err := c.ShardLeader(ctx, shard)
	if err != nil {
		t.Fatal(err)
	}
	if leader == killed {
		t.Errorf("shard %d still led by %s right after its leader was killed", shard, killed)
	}

	events, next := c.Elections(since)
	var found *Election
	for i := range events {
		if e := &events[i]; e.Shard == shard && e.From == killed {
			found = e
		}
	}
	if found == nil {
		t.Fatalf("no election of shard %d from %s among %+v", shard, killed, events)
	}
	if found.Took <= 0 || found.To == found.From || found.To == "" || found.Term == 0 || found.At.IsZero() {
		t.Errorf("election %+v: want Took > 0, To != From, a term and a time", *found)
	}
	t.Logf("new leader of shard %d after %v", shard, found.Took)
	if again, n := c.Elections(next); len(again) != 0 || n != next {
		t.Errorf("Elections(%d) = %v, %d; want nothing new", next, again, n)
	}

	// The killed replica came back as a follower and catches up, so the
	// shard keeps three replicas.
	waitCaughtUp(t, c, shard)
	waitReplicated(t, c, shardNodes(c, shard), after, []byte("v2"))
	for _, n := range c.Status().Nodes {
		if !n.Up {
			t.Errorf("%s down after KillLeader, which stops one replica only", n.ID)
		}
	}

	if _, err := c.KillLeader(ctx, 99); !errors.Is(err, ErrUnknownShard) {
		t.Errorf("KillLeader(99): err = %v, want ErrUnknownShard", err)
	}
}

func TestTransferLeader(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	old, err := c.ShardLeader(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, since := c.Elections(0)
	if err := c.TransferLeader(ctx, 2); err != nil {
		t.Fatalf("TransferLeader: %v", err)
	}
	now, err := c.ShardLeader(ctx, 2)
	if err != nil || now == old {
		t.Fatalf("leader after transfer = %s, %v; was %s", now, err, old)
	}
	waitFor(t, "the transfer observed", func() bool {
		events, _ := c.Elections(since)
		return slices.ContainsFunc(events, func(e Election) bool { return e.Shard == 2 && e.From == old && e.To == now })
	})
	k := keyOn(c, 2, "k")
	if err := c.Put(ctx, k, []byte("v")); err != nil {
		t.Fatal(err)
	}
}

func TestCrashAndRestartNodeLosesNoWrite(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	value := func(phase string, s int) []byte { return []byte(phase + strconv.Itoa(s)) }
	for s := range c.Shards() {
		if err := c.Put(ctx, keyOn(c, s, "before"), value("before", s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CrashNode("n2"); err != nil {
		t.Fatal(err)
	}
	// Every shard keeps a quorum of two and takes writes during the outage.
	for s := range c.Shards() {
		if err := c.Put(ctx, keyOn(c, s, "during"), value("during", s)); err != nil {
			t.Fatalf("Put on shard %d with n2 down: %v", s, err)
		}
	}
	if err := c.RestartNode(ctx, "n2"); err != nil {
		t.Fatalf("RestartNode: %v", err)
	}
	for _, n := range c.Status().Nodes {
		if !n.Up {
			t.Errorf("%s down after the restart", n.ID)
		}
	}
	for s := range c.Shards() {
		waitCaughtUp(t, c, s)
		for _, phase := range []string{"before", "during"} {
			k := keyOn(c, s, phase)
			// n2's state machine was rebuilt from its log and its peers.
			waitReplicated(t, c, []string{"n2"}, k, value(phase, s))
			if got, err := c.Get(ctx, k); err != nil || string(got) != string(value(phase, s)) {
				t.Errorf("Get(%s) = %q, %v; want %q", k, got, err, value(phase, s))
			}
		}
	}
	// The restarted node can lead again: crash another and its shards
	// still have a quorum with n2.
	if err := c.CrashNode("n3"); err != nil {
		t.Fatal(err)
	}
	for s := range c.Shards() {
		if err := c.Put(ctx, keyOn(c, s, "after"), value("after", s)); err != nil {
			t.Fatalf("Put on shard %d with n3 down and n2 restarted: %v", s, err)
		}
	}
	if err := c.RestartNode(context.Background(), "nope"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("RestartNode(nope): err = %v, want ErrUnknownNode", err)
	}
}

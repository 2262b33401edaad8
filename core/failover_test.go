package core

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestKillLeaderFailsOverFast kills a shard's leader six times with 1 s Raft
// timeouts and checks that the followers, seeing its connections close and
// its address refuse them, elect a successor within half a timeout of the
// kill (failover.go): a stagger of 0.2 timeouts, or one and a half, and
// noise.
//
// On raft's timers alone a follower notices a dead leader 1 to 3 timeouts
// after its last contact, and the election waits for the later of the two
// followers; and waiting for the heartbeat timeout after the last contact
// before standing took 1.2 timeouts or more. Fast failover can still split
// a vote now and then, as raft can, when a follower's own timer fires just
// as the other stands; so one slow kill in six is let pass.
//
// Every other kill makes the follower that checks second lack the last
// entries, by delaying the leader's writes to it; it then cannot win, and
// the first must ask again for the pre-vote it was refused. Without that it
// would wait out an election timeout: 2 timeouts or more.
func TestKillLeaderFailsOverFast(t *testing.T) {
	const timeout = time.Second
	c := newTestCluster(t, 3, oneShard, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = timeout, timeout
	})
	ctx := testContext(t)
	slow := 0
	for i := range 6 {
		behind := i%2 == 1
		leader, err := c.ShardLeader(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var followers []string
		for _, id := range replicaNodes(c) {
			if id != leader {
				followers = append(followers, id)
			}
		}
		slices.Sort(followers) // the order in which they check
		if behind {
			if err := c.SetLink(leader, followers[1], Link{Delay: timeout / 10}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Put(ctx, keyOn(c, 0, "k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		// The delayed link lengthens the heartbeat timeout a little
		// (timeouts.go): the bounds are in the timeouts in force.
		hb := heartbeatInForce(c)
		_, since := c.Elections(0)
		if _, err := c.KillLeader(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.SetAllLinks(Link{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the timeouts to shrink back", func() bool { return c.Status().HeartbeatTimeout == timeout })
		events, _ := c.Elections(since)
		if len(events) == 0 || events[len(events)-1].Took == 0 {
			t.Fatalf("behind=%v: no timed election after the kill: %+v", behind, events)
		}
		e := events[len(events)-1]
		t.Logf("behind=%v: %s killed, %s elected after %v (%.2f timeouts of %v)", behind, leader, e.To, e.Took, e.Took.Seconds()/hb.Seconds(), hb)
		if e.Took > hb/2 {
			slow++
			continue
		}
		if behind && e.To != followers[0] {
			t.Errorf("behind=%v: %s won, want %s, the follower with the whole log", behind, e.To, followers[0])
		}
	}
	if slow > 1 {
		t.Errorf("%d of 6 kills took over half a heartbeat timeout", slow)
	}
}

// TestFalseAlarmKeepsLeader tells a live leader's followers, again and
// again, that a connection it had opened closed, as a leader closing a spare
// pooled connection does, and checks that none of them stands for
// election: their dial to the leader connects, so they leave the check to
// raft's timers, which keep hearing from the leader. Were a closed
// connection taken for a dead leader (leaderGone always true), the first
// follower would stand at once and the second a stagger later, and the
// second would win: an election, and candidates seen.
func TestFalseAlarmKeepsLeader(t *testing.T) {
	const timeout = 500 * time.Millisecond
	c := newTestCluster(t, 3, oneShard, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = timeout, timeout
	})
	ctx := testContext(t)
	leader, err := c.ShardLeader(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var followers []*replica
	for _, st := range c.shards[0].seats() {
		if st.node.id != leader {
			followers = append(followers, st.replica())
		}
	}
	_, since := c.Elections(0)
	hb := heartbeatInForce(c)
	end := time.Now().Add(3 * hb)
	next := time.Now()
	for time.Now().Before(end) {
		if time.Now().After(next) {
			for _, f := range followers {
				f.peerClosed()
			}
			next = next.Add(hb / 10)
		}
		for _, f := range followers {
			if st := f.raft.State(); st != raft.Follower {
				t.Fatalf("%s became %v with its leader %s alive", f.node.id, st, leader)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if ev, _ := c.Elections(since); len(ev) > 0 {
		t.Fatalf("elections with a live leader: %+v", ev)
	}
	if now, err := c.ShardLeader(ctx, 0); err != nil || now != leader {
		t.Fatalf("leader %s, then %s (%v)", leader, now, err)
	}
}

// TestRaftContactIsSettable checks that raftContact finds where raft keeps
// its last contact, which a follower moves back to stand at once after its
// leader crashed (failover.go's stand): it fails if a raft upgrade moves it.
func TestRaftContactIsSettable(t *testing.T) {
	c := newTestCluster(t, 3, oneShard)
	r := c.shards[0].seats()[0].replica().raft
	mu, last, err := raftContact(r)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Now().Add(-time.Hour)
	mu.Lock()
	*last = want
	mu.Unlock()
	if got := r.LastContact(); !got.Equal(want) {
		t.Fatalf("LastContact %v after setting %v", got, want)
	}
}

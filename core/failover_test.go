package core

import (
	"slices"
	"testing"
	"time"
)

// TestKillLeaderFailsOverFast kills a shard's leader six times with 1 s Raft
// timeouts and checks that the followers, seeing its connections close,
// elect a successor within 1.6 timeouts of the kill (failover.go): a
// timeout, then a stagger of 0.2 timeouts or one and a half, and noise.
//
// On raft's timers alone a follower notices a dead leader 1 to 3 timeouts
// after its last contact, and the election waits for the later of the two
// followers; both notice within 1.6 timeouts in fewer than 1 kill in 6.
// Fast failover can still split a vote now and then, as raft can, when a
// follower's own timer fires just as the other stands; so one slow kill in
// six is let pass.
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
		if e.Took > hb*16/10 {
			slow++
			continue
		}
		if behind && e.To != followers[0] {
			t.Errorf("behind=%v: %s won, want %s, the follower with the whole log", behind, e.To, followers[0])
		}
	}
	if slow > 1 {
		t.Errorf("%d of 6 kills took over %v", slow, timeout*16/10)
	}
}

package core

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// putLatencies times n sequential Puts on one shard.
func putLatencies(t *testing.T, c *Cluster, n int) []time.Duration {
	t.Helper()
	ctx := testContext(t)
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if err := c.Put(ctx, "k"+strconv.Itoa(i), []byte("v")); err != nil {
			t.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	return lat
}

// eachLinks runs f as a subtest for each kind of links an embedded
// cluster can have (Config.Links), handing it the option that sets them.
func eachLinks(t *testing.T, f func(t *testing.T, links func(*Config))) {
	for _, l := range []string{LinksUnix, LinksTCP} {
		if l == LinksUnix && !netsim.UnixLinks {
			continue
		}
		t.Run(l, func(t *testing.T) { f(t, func(cfg *Config) { cfg.Links = l }) })
	}
}

// The delay shapes both ways of each link whatever carries it: a response
// is delayed only if the node that accepted the connection can tell which
// node dialled it.
func TestDelayCostsOneRoundTripPerPut(t *testing.T) {
	eachLinks(t, testDelayCostsOneRoundTripPerPut)
}

func testDelayCostsOneRoundTripPerPut(t *testing.T, links func(*Config)) {
	c := newTestCluster(t, 3, oneShard, links)
	const oneWay = 5 * time.Millisecond
	putLatencies(t, c, 5) // warm up connections
	fast := putLatencies(t, c, 30)
	if err := c.SetAllLinks(Link{Delay: oneWay}); err != nil {
		t.Fatal(err)
	}
	putLatencies(t, c, 3) // let the pipeline fill with shaped traffic
	slow := putLatencies(t, c, 30)
	t.Logf("Put p50 unshaped %v, with %v one-way delay %v (min %v)", fast[len(fast)/2], oneWay, slow[len(slow)/2], slow[0])
	if slow[0] < 2*oneWay {
		t.Errorf("fastest Put with %v one-way delay took %v, want at least a round trip (%v)", oneWay, slow[0], 2*oneWay)
	}
	if fast[len(fast)/2]*2 > slow[len(slow)/2] {
		t.Errorf("Put p50 unshaped %v is not well below the shaped %v", fast[len(fast)/2], slow[len(slow)/2])
	}
	if err := c.SetAllLinks(Link{Delay: -1}); err == nil {
		t.Error("SetAllLinks accepted a negative delay")
	}
	if err := c.SetLink("n1", "n9", Link{}); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("SetLink to n9: err = %v, want ErrUnknownNode", err)
	}
}

func TestPartitionedFollowerStallsAndCatchesUp(t *testing.T) {
	eachLinks(t, testPartitionedFollowerStallsAndCatchesUp)
}

func testPartitionedFollowerStallsAndCatchesUp(t *testing.T, links func(*Config)) {
	c := newTestCluster(t, 3, oneShard, links)
	ctx := testContext(t)
	if err := c.Put(ctx, "warm", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, c, 0)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := "n1"
	if follower == leader {
		follower = "n2"
	}
	if err := c.Partition(follower); err != nil {
		t.Fatal(err)
	}
	stalled := appliedIndex(t, c, 0, follower)
	for i := range 20 {
		if err := c.Put(ctx, "p"+strconv.Itoa(i), []byte("v")); err != nil {
			t.Fatalf("Put with one follower partitioned: %v", err)
		}
	}
	if got := appliedIndex(t, c, 0, follower); got != stalled {
		t.Errorf("partitioned %s applied index moved from %d to %d", follower, stalled, got)
	}
	if _, ok, _ := c.LocalGet(follower, "p19"); ok {
		t.Errorf("partitioned %s received a write", follower)
	}
	c.Heal()
	waitCaughtUp(t, c, 0)
	waitReplicated(t, c, []string{follower}, "p19", []byte("v"))
}

func TestAcknowledgedWritesSurvivePartitionedLeader(t *testing.T) {
	c := newTestCluster(t, 3, oneShard)
	ctx := testContext(t)
	old, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, since := c.Elections(0)
	if err := c.Put(ctx, "before", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Partition(old); err != nil {
		t.Fatal(err)
	}
	// Writes go on once the majority side elects a leader.
	if err := c.Put(ctx, "during", []byte("v2")); err != nil {
		t.Fatalf("Put with the leader partitioned: %v", err)
	}
	waitFor(t, "an election away from "+old, func() bool {
		events, _ := c.Elections(since)
		return slices.ContainsFunc(events, func(e Election) bool { return e.From == old && e.To != old && e.Took > 0 })
	})
	c.Heal()
	if err := c.Put(ctx, "after", []byte("v3")); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"before": "v1", "during": "v2", "after": "v3"} {
		if got, err := c.Get(ctx, k); err != nil || string(got) != v {
			t.Errorf("Get(%s) = %q, %v; want %q", k, got, err, v)
		}
	}
	waitCaughtUp(t, c, 0)
	waitReplicated(t, c, []string{old}, "during", []byte("v2"))
}

func TestStatusShowsPartitionedNodes(t *testing.T) {
	c := newTestCluster(t, 3)
	partitioned := func() []string {
		var ids []string
		for _, n := range c.Status().Nodes {
			if n.Partitioned {
				ids = append(ids, n.ID)
			}
		}
		return ids
	}
	if got := partitioned(); len(got) != 0 {
		t.Fatalf("before any partition, Status shows %v partitioned", got)
	}
	if err := c.Partition("n2"); err != nil {
		t.Fatal(err)
	}
	if got := partitioned(); !slices.Equal(got, []string{"n2"}) {
		t.Errorf("after Partition(n2), Status shows %v partitioned; want [n2]", got)
	}
	for _, n := range c.Status().Nodes {
		if n.ID == "n2" && !n.Up {
			t.Error("a partitioned node shows as down; it keeps running")
		}
	}
	c.Heal()
	if got := partitioned(); len(got) != 0 {
		t.Errorf("after Heal, Status shows %v partitioned", got)
	}
}

package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

// detectMargin is the slack on top of DownAfter that a node may take to be
// marked down: a detector tick, a meta log write, and the race detector on
// a small machine.
const detectMargin = 500 * time.Millisecond

// nodeState returns node id's state and heartbeat age as Status reports them.
func nodeState(c *Cluster, id string) (string, time.Duration) {
	for _, n := range c.Status().Nodes {
		if n.ID == id {
			return n.State, n.HeartbeatAge
		}
	}
	return "", 0
}

// metaFollower returns a node hosting a meta replica that is not the meta
// leader, so that cutting it off leaves the detector where it is.
func metaFollower(t *testing.T, c *Cluster) string {
	t.Helper()
	var leader string
	waitFor(t, "a meta leader", func() bool { leader = c.Status().MetaLeader; return leader != "" })
	for _, n := range c.Status().Nodes {
		if n.ID != leader {
			return n.ID
		}
	}
	t.Fatal("no node besides the meta leader")
	return ""
}

// waitState waits until id is in state want and returns how long it took
// from since.
func waitState(t *testing.T, c *Cluster, id, want string, since time.Time) time.Duration {
	t.Helper()
	waitFor(t, id+" "+want, func() bool { s, _ := nodeState(c, id); return s == want })
	return time.Since(since)
}

func TestStatusReportsHealth(t *testing.T) {
	c := newTestCluster(t, 3)
	st := c.Status()
	if st.MetaLeader == "" {
		t.Error("Status has no meta leader")
	}
	metas := 0
	for _, n := range st.Nodes {
		if n.State != StateUp {
			t.Errorf("%s state %q, want up", n.ID, n.State)
		}
		if n.HeartbeatAge > c.cfg.SuspectAfter {
			t.Errorf("%s heartbeat age %v", n.ID, n.HeartbeatAge)
		}
		if n.Meta {
			metas++
		}
	}
	if metas != 3 {
		t.Errorf("%d meta voters, want 3", metas)
	}
	if err := c.Heartbeat(testContext(t), "n1"); err != nil {
		t.Errorf("Heartbeat: %v", err)
	}
	if err := c.Heartbeat(testContext(t), "n9"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Heartbeat(n9) = %v, want ErrUnknownNode", err)
	}
}

func TestCrashedNodeIsMarkedDownThenUp(t *testing.T) {
	c := newTestCluster(t, 3)
	victim := metaFollower(t, c)
	start := time.Now()
	if err := c.CrashNode(victim); err != nil {
		t.Fatal(err)
	}
	suspect := waitState(t, c, victim, StateSuspect, start)
	down := waitState(t, c, victim, StateDown, start)
	t.Logf("crashed %s: suspect after %v, down after %v", victim, suspect, down)
	if limit := c.cfg.DownAfter + detectMargin; down > limit {
		t.Errorf("%s marked down after %v, want within %v", victim, down, limit)
	}
	if err := c.Heartbeat(testContext(t), victim); !errors.Is(err, ErrNodeDown) {
		t.Errorf("Heartbeat from a crashed node = %v, want ErrNodeDown", err)
	}
	start = time.Now()
	if err := c.RestartNode(testContext(t), victim); err != nil {
		t.Fatal(err)
	}
	up := waitState(t, c, victim, StateUp, start)
	t.Logf("restarted %s: up after %v", victim, up)
	if limit := c.cfg.HeartbeatInterval + detectMargin; up > limit {
		t.Errorf("%s marked up after %v, want within %v", victim, up, limit)
	}
}

func TestPartitionedNodeIsMarkedDownThenUp(t *testing.T) {
	c := newTestCluster(t, 3)
	victim := metaFollower(t, c)
	start := time.Now()
	if err := c.Partition(victim); err != nil {
		t.Fatal(err)
	}
	down := waitState(t, c, victim, StateDown, start)
	t.Logf("partitioned %s: down after %v", victim, down)
	if limit := c.cfg.DownAfter + detectMargin; down > limit {
		t.Errorf("%s marked down after %v, want within %v", victim, down, limit)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := c.Heartbeat(ctx, victim); err == nil {
		t.Error("Heartbeat across a partition succeeded")
	}
	start = time.Now()
	c.Heal()
	up := waitState(t, c, victim, StateUp, start)
	t.Logf("healed %s: up after %v", victim, up)
}

package core

import (
	"bytes"
	"testing"
	"time"
)

// trafficOf returns each node's traffic by id, failing when the cluster
// counts none.
func trafficOf(t *testing.T, c *Cluster) map[string]NodeTraffic {
	t.Helper()
	ts, ok := c.AppendTraffic(nil)
	if !ok {
		t.Fatal("AppendTraffic: the embedded cluster counts no traffic")
	}
	out := make(map[string]NodeTraffic, len(ts))
	for _, x := range ts {
		out[x.ID] = x
	}
	return out
}

func sumTraffic(ts []NodeTraffic) (sent, recv uint64) {
	for _, x := range ts {
		sent += x.Sent
		recv += x.Recv
	}
	return sent, recv
}

// TestAppendTrafficUnderWrites: writes to one shard show as its leader
// sending at least twice what was written (to two followers) and each
// follower receiving at least what was written; every node counts both
// ways; the nodes' counters add up to the network's totals; and a
// partitioned node's counters stand still while the others' go on.
func TestAppendTrafficUnderWrites(t *testing.T) {
	c := newTestCluster(t, 3, oneShard)
	waitCaughtUp(t, c, 0)
	leader := c.Status().Shards[0].Leader
	before := trafficOf(t, c)
	val := bytes.Repeat([]byte("x"), 16<<10)
	const writes = 16
	for i := range writes {
		if err := c.PutReplicated(testContext(t), keyOn(c, 0, "k"+string(rune('a'+i))), val); err != nil {
			t.Fatal(err)
		}
	}
	after := trafficOf(t, c)
	if len(after) != 3 {
		t.Fatalf("traffic of %d nodes, want 3: %v", len(after), after)
	}
	const written = writes * 16 << 10
	for id, a := range after {
		b := before[id]
		if a.Sent <= b.Sent || a.Recv <= b.Recv || !a.Up {
			t.Errorf("%s: %+v then %+v, want both counters growing on a node that is up", id, b, a)
		}
		if id == leader {
			if got := a.Sent - b.Sent; got < 2*written {
				t.Errorf("leader %s sent %d bytes, want at least %d (the writes to two followers)", id, got, 2*written)
			}
		} else if got := a.Recv - b.Recv; got < written {
			t.Errorf("follower %s received %d bytes, want at least %d (the writes)", id, got, written)
		}
	}

	// The counters only grow, so the network's totals read between two
	// readings of the nodes' lie between their sums; sent and received
	// differ by what is in flight, heartbeats once the writes are done.
	lo, _ := c.AppendTraffic(nil)
	totSent, totRecv := c.nw.TotalTraffic()
	hi, _ := c.AppendTraffic(nil)
	loSent, loRecv := sumTraffic(lo)
	hiSent, hiRecv := sumTraffic(hi)
	if totSent < loSent || totSent > hiSent || totRecv < loRecv || totRecv > hiRecv {
		t.Errorf("network total sent %d received %d, nodes' sums %d..%d and %d..%d", totSent, totRecv, loSent, hiSent, loRecv, hiRecv)
	}
	const inFlight = 64 << 10
	if d := int64(hiSent) - int64(hiRecv); d < -inFlight || d > inFlight {
		t.Errorf("nodes sent %d bytes and received %d: more apart than what can be in flight", hiSent, hiRecv)
	}

	cut := "n3"
	if err := c.Partition(cut); err != nil {
		t.Fatal(err)
	}
	// A write racing the cut may still land; from here on nothing does.
	time.Sleep(100 * time.Millisecond)
	p1 := trafficOf(t, c)
	time.Sleep(500 * time.Millisecond)
	p2 := trafficOf(t, c)
	if p1[cut].Sent != p2[cut].Sent || p1[cut].Recv != p2[cut].Recv {
		t.Errorf("partitioned %s went on counting: %+v then %+v", cut, p1[cut], p2[cut])
	}
	for _, id := range []string{"n1", "n2"} {
		if p2[id].Sent <= p1[id].Sent || p2[id].Recv <= p1[id].Recv {
			t.Errorf("%s, not partitioned, stopped counting: %+v then %+v", id, p1[id], p2[id])
		}
	}
	c.Heal()
	waitFor(t, cut+" counting again after Heal", func() bool { return trafficOf(t, c)[cut].Recv > p2[cut].Recv })

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ts, ok := c.AppendTraffic(nil); ok || len(ts) != 0 {
		t.Errorf("after Close: %v, %v; want nothing, false", ts, ok)
	}
}

// TestAppendTrafficMembership: a restarted node keeps counting where it
// was; a removed node is gone from the list; a node added into the
// network slot it held counts from its own joining, not the removed
// node's bytes the slot's counters keep.
func TestAppendTrafficMembership(t *testing.T) {
	c := newTestCluster(t, 4)
	val := bytes.Repeat([]byte("y"), 4<<10)
	for i := range 8 {
		if err := c.Put(testContext(t), keyOn(c, i%4, "m"), val); err != nil {
			t.Fatal(err)
		}
	}

	if err := c.CrashNode("n2"); err != nil {
		t.Fatal(err)
	}
	crashed := trafficOf(t, c)["n2"]
	if crashed.Up {
		t.Errorf("crashed n2 reported up: %+v", crashed)
	}
	if err := c.RestartNode(testContext(t), "n2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 counting on after its restart", func() bool {
		n := trafficOf(t, c)["n2"]
		return n.Up && n.Sent > crashed.Sent && n.Recv > crashed.Recv
	})

	c.topo.RLock()
	slot := c.byID["n1"].index
	c.topo.RUnlock()
	if err := c.RemoveNode(testContext(t), "n1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := trafficOf(t, c)["n1"]; ok {
		t.Error("removed n1 still listed")
	}
	old := c.nw.Traffic(slot)
	oldSent := old.Sent()
	if oldSent == 0 {
		t.Fatal("n1's slot counted nothing")
	}
	id, err := c.AddNode(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	c.topo.RLock()
	got := c.byID[id].index
	c.topo.RUnlock()
	if got != slot {
		t.Skipf("%s took slot %d, not n1's %d: nothing to check", id, got, slot)
	}
	n := trafficOf(t, c)[id]
	if raw := old.Sent(); raw-n.Sent < oldSent {
		t.Errorf("%s in n1's old slot reports %d bytes sent of the slot's %d: it counts n1's %d", id, n.Sent, raw, oldSent)
	}
	if n.Sent == 0 || n.Recv == 0 {
		t.Errorf("%s, given replicas, counted nothing: %+v", id, n)
	}
}

// BenchmarkAppendTraffic is what polling every node's counters costs a
// tick: a cluster of 16 nodes, into a reused slice (no allocation).
func BenchmarkAppendTraffic(b *testing.B) {
	c := newTestCluster(b, 16, func(cfg *Config) { cfg.Shards = 4 })
	var buf []NodeTraffic
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = c.AppendTraffic(buf[:0])
	}
	if len(buf) != 16 {
		b.Fatalf("traffic of %d nodes, want 16", len(buf))
	}
}

package node

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
)

// TestProcessUseCountsTraffic: the bytes of known writes show up in the
// nodes' own counters — each write's value crosses the API to its shard's
// leader and goes out over Raft to the followers — and the counters and
// uptime only grow.
func TestProcessUseCountsTraffic(t *testing.T) {
	c, p := newProcessCluster(t, 3, core.StorageMemory)
	defer closeChecked(t, c, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := p.Use(ctx)
	if len(before) != 3 {
		t.Fatalf("Use answered for %d nodes, want 3: %v", len(before), before)
	}
	const writes, size = 50, 4096
	value := make([]byte, size)
	for i := range writes {
		if err := c.Put(ctx, "k"+strconv.Itoa(i), value); err != nil {
			t.Fatal(err)
		}
	}
	after := p.Use(ctx)
	var raftSent, raftRecv, apiRecv uint64
	for id, a := range after {
		b := before[id]
		if a.Uptime <= b.Uptime || a.RaftSent < b.RaftSent || a.RaftRecv < b.RaftRecv || a.APIRecv < b.APIRecv || a.APISent < b.APISent {
			t.Errorf("%s: counters went back: %+v then %+v", id, b, a)
		}
		if a.PID <= 0 || a.RSSBytes != 0 || a.HasDisk {
			t.Errorf("%s: Use asks for the counters only, got %+v", id, a)
		}
		raftSent += a.RaftSent - b.RaftSent
		raftRecv += a.RaftRecv - b.RaftRecv
		apiRecv += a.APIRecv - b.APIRecv
	}
	// Asked for everything (join mode), a node measures its process too.
	for _, np := range p.Nodes() {
		conn, err := Dial(np.Addr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := conn.Resources(ctx)
		_ = conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if u := useOf(r); u.PID != np.PID || u.RSSBytes == 0 || u.CPUSeconds <= 0 || !u.HasDisk || u.RaftSent == 0 || u.Uptime <= 0 {
			t.Errorf("%s: %+v, want its process's figures and counters", np.ID, u)
		}
	}
	// Every value reaches its leader over the API once and two followers
	// over Raft (each of them receives it, the leader sends it twice).
	total := uint64(writes * size)
	if apiRecv < total {
		t.Errorf("the nodes' APIs received %d bytes, want at least the %d written", apiRecv, total)
	}
	if raftSent < 2*total || raftRecv < 2*total {
		t.Errorf("Raft sent %d and received %d bytes, want at least %d each (every value to two followers)", raftSent, raftRecv, 2*total)
	}
}

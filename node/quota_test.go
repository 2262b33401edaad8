package node

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/phantomdb/phantom/internal/cgroup"
)

// TestProcessesQuota starts a node under a CPU quota, crashes and restarts
// it: both its processes run in its group, and Close removes the group.
func TestProcessesQuota(t *testing.T) {
	if err := cgroup.Check(); err != nil {
		t.Skipf("no CPU quotas here: %v", err)
	}
	m, err := cgroup.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := NewProcesses(ProcessesConfig{LogDir: t.TempDir(), Lease: 3 * time.Second, Quotas: m, CPUs: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inGroup := func(want int) *cgroup.Group {
		t.Helper()
		ns := p.Nodes()
		if len(ns) != 1 || ns[0].PID != want || ns[0].Group == nil {
			t.Fatalf("nodes %+v, want one with pid %d and a group", ns, want)
		}
		if got := ns[0].Group.CPUs(); got != 0.2 {
			t.Fatalf("quota %v CPUs, want 0.2", got)
		}
		pids, err := ns[0].Group.PIDs()
		if err != nil || !slices.Contains(pids, want) {
			t.Fatalf("group %s holds %v (%v), want pid %d", ns[0].Group.Dir(), pids, err, want)
		}
		return ns[0].Group
	}
	conn, err := p.Start(ctx, "n1", 0)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	first := p.Nodes()[0].PID
	g := inGroup(first)
	if err := p.Kill("n1"); err != nil {
		t.Fatal(err)
	}
	if conn, err = p.Restart(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	second := p.Nodes()[0].PID
	if second == first {
		t.Fatalf("restart kept pid %d", first)
	}
	if g2 := inGroup(second); g2 != g {
		t.Fatalf("restart went into group %s, not %s", g2.Dir(), g.Dir())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Dir()); !os.IsNotExist(err) {
		t.Fatalf("group %s still there after Close: %v", g.Dir(), err)
	}
}

package suites

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
)

// A fresh cluster's elections count against the suite running: those up
// to its settling, and a few election timeouts after, caused by its start;
// later ones spontaneous.
func TestFreshElectionsCausedByTheStartThenSpontaneous(t *testing.T) {
	x := &run{}
	begun := time.Now()
	x.elections.suites = []suiteElections{{name: "scalability", from: begun}}
	settled := begun.Add(time.Second)
	x.fresh.add([]core.Election{
		{Shard: 0, At: begun.Add(100 * time.Millisecond)},                  // its start
		{Shard: 1, At: settled},                                            // as it settled
		{Shard: 1, At: settled.Add(minCauseWindow / 2)},                    // a moment after
		{Shard: 2, At: settled.Add(minCauseWindow + 100*time.Millisecond)}, // on its own
	}, settled)
	x.countFresh()
	got := x.elections.suites[0].counts
	if got.Caused != 3 || got.Spontaneous != 1 || got.ByCause["fresh cluster start"] != 3 {
		t.Errorf("counted %+v, want 3 caused by the fresh cluster's start and 1 spontaneous", got)
	}
	if x.elections.run.Caused != 3 || x.elections.run.Spontaneous != 1 {
		t.Errorf("the run counted %+v, want the same 3 and 1", x.elections.run)
	}
	x.countFresh()
	if x.elections.run.Caused != 3 {
		t.Errorf("counted twice: %+v", x.elections.run)
	}
}

// A node step whose fresh cluster does not start measures nothing, says
// why in an event, and the sweep goes on to its other steps, which
// measure; the suite still runs its whole duration's worth of steps.
func TestScalabilityNodeStepThatCannotStartIsMarkedAndSkipped(t *testing.T) {
	defer func(m time.Duration) { minStep = m }(minStep)
	minStep = 300 * time.Millisecond
	cfg := DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.Suites = []string{"scalability"}
	cfg.Nodes, cfg.Clients, cfg.Duration = 6, 6, 5*time.Second
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	r.open = func(ctx context.Context, c core.Config) (DB, error) {
		if c.Nodes == 3 {
			return nil, errors.New("no room for it")
		}
		opened++
		return openEmbedded(ctx, c)
	}
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc := report.Scalability
	if sc == nil || len(sc.Sweeps) != 2 {
		t.Fatalf("scalability %+v, want a clients and a nodes sweep", sc)
	}
	nodes := sc.Sweeps[1]
	if len(nodes.Points) != 2 || !nodes.Points[0].Empty || nodes.Points[1].Empty || nodes.Points[1].OpsPerSec <= 0 {
		t.Errorf("node sweep %+v, want 3 nodes marked as measuring nothing and 6 measured", nodes.Points)
	}
	if len(sc.Sweeps[0].Points) != 4 {
		t.Errorf("clients sweep %+v, want its 4 steps (1, 2, 4, 6) after the node sweep", sc.Sweeps[0].Points)
	}
	said := false
	for _, e := range report.Events {
		said = said || strings.Contains(e.Message, "3-node step measured nothing") && strings.Contains(e.Message, "no room for it")
	}
	if !said {
		t.Error("no event says why the 3-node step measured nothing")
	}
	if opened != 1 {
		t.Errorf("opened %d clusters, want only the run's", opened)
	}
}

// Each fresh cluster of the node sweep is sized to what the budget leaves
// beside the run's cluster, and its elections are counted: the first ones
// caused by its start.
func TestScalabilityFreshClustersFitTheBudgetAndCountTheirElections(t *testing.T) {
	defer func(m time.Duration) { minStep = m }(minStep)
	minStep = 300 * time.Millisecond
	cfg := DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.Suites = []string{"scalability"}
	cfg.Nodes, cfg.Clients, cfg.Duration = 6, 6, 5*time.Second
	cfg.MemoryBudget = 256 << 20
	cfg.DataSize = 64 << 10
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var run, fresh core.Config
	r.open = func(ctx context.Context, c core.Config) (DB, error) {
		if c.Nodes == 3 {
			fresh = c
		} else {
			run = c
		}
		return openEmbedded(ctx, c)
	}
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Nodes != 3 || fresh.Shards != 3 {
		t.Fatalf("fresh cluster %d nodes, %d shards; want 3 and 3", fresh.Nodes, fresh.Shards)
	}
	// Half the shards in at most the budget: no more log per shard than
	// the run's cluster keeps.
	if fresh.SnapshotThreshold > run.SnapshotThreshold*2 {
		t.Errorf("fresh cluster's snapshot threshold %d, the run's %d: sized for more than the budget leaves", fresh.SnapshotThreshold, run.SnapshotThreshold)
	}
	sc, ok := report.Suites["scalability"]
	if !ok || sc.Elections == nil || sc.Elections.ByCause["fresh cluster start"] < 3 {
		t.Errorf("scalability's elections %+v, want at least the fresh cluster's 3 shards' first leaders caused by its start", sc)
	}
}

// The node sweep doubles from one node when each node brings a CPU quota
// of its own, from three (every shard fully replicated) when nodes share
// the machine; its steps need their clients per node within the run's.
func TestScalabilityNodePlan(t *testing.T) {
	for _, c := range []struct {
		nodes, clients, perNode int
		cpus                    float64
		want                    []int
	}{
		{8, 512, 64, 0.2, []int{1, 2, 4, 8}},
		{8, 512, 64, 0, []int{3, 6, 8}},
		{6, 6, 1, 0, []int{3, 6}},
		{5, 10, 2, 0.5, []int{1, 2, 4, 5}},
		{3, 48, 16, 0, nil}, // one step: nothing to sweep
		{3, 48, 16, 0.2, []int{1, 2, 3}},
		{1, 8, 8, 0.2, nil},
		{8, 8, 1, 0.2, []int{1, 2, 4, 8}},
		{8, 12, 1, 0.2, []int{1, 2, 4, 8}},
	} {
		got := nodePlan(c.nodes, c.clients, c.perNode, c.cpus)
		if !slices.Equal(got, c.want) {
			t.Errorf("nodePlan(%d nodes, %d clients, %d per node, %v CPUs) = %v, want %v", c.nodes, c.clients, c.perNode, c.cpus, got, c.want)
		}
	}
}

// A step's CPU figures are what was used between its marks: the
// machine's busy share, and the node processes' CPU split into the
// step's (a fresh cluster's) and the run's own, only processes that ran
// at both marks counted.
func TestUsedBetweenMarks(t *testing.T) {
	t0 := time.Now()
	a := cpuMark{at: t0, busy: 1000, total: 4000, procs: map[int]procCPU{
		10: {own: true, ns: 1e9}, 11: {own: true, ns: 2e9}, 20: {ns: 5e8}, 30: {ns: 1e9}}}
	b := cpuMark{at: t0.Add(2 * time.Second), busy: 1200, total: 4400, procs: map[int]procCPU{
		10: {own: true, ns: 1.2e9}, 11: {own: true, ns: 2.2e9}, 20: {ns: 9e8}, 40: {ns: 7e9}}} // 30 ended, 40 started
	u := usedBetween(a, b)
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	if !near(u.machine, 50) || !near(u.own, 0.2) || !near(u.fresh, 0.2) || !u.ownOK || !u.freshOK {
		t.Errorf("used %+v; want machine 50%%, own 0.2 CPUs, fresh 0.2 (pids 30 and 40 not counted)", u)
	}
	if u := usedBetween(cpuMark{at: t0}, cpuMark{at: t0.Add(time.Second), busy: 5, total: 10}); u.machine != 0 || u.ownOK || u.freshOK {
		t.Errorf("from an unread mark: %+v, want nothing known", u)
	}
	busy, total := parseProcStat("cpu  2210007 2062 597046 1143510 4701 0 97039 31840 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if wantBusy := uint64(2210007 + 2062 + 597046 + 0 + 97039 + 31840); busy != wantBusy || total != wantBusy+1143510+4701 {
		t.Errorf("parsed busy %d total %d", busy, total)
	}
	if b, tot := parseProcStat("intr 1 2 3"); b != 0 || tot != 0 {
		t.Errorf("a /proc/stat without its cpu line parsed as %d/%d", b, tot)
	}
	// This process's own CPU clock reads and grows.
	n0, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for x, end := 0, time.Now().Add(20*time.Millisecond); time.Now().Before(end); x++ {
		_ = x * x
	}
	if n1, _ := processCPU(os.Getpid()); n1 <= n0 {
		t.Errorf("process CPU %d then %d after spinning", n0, n1)
	}
}

package suites

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
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

// A step's CPU figures come from the ticks in its measured time: on a
// fresh cluster its nodes are the fresh ones and the run's own sat idle
// beside them; on the run's own cluster its nodes are the run's.
func TestStepCPUSplitsTheStepsNodesFromTheIdleOnes(t *testing.T) {
	t0 := time.Now()
	x := &run{cpuTrace: []cpuSample{
		{at: t0, cpu: 99, nodeCPU: nodeCPU{own: 9, fresh: 9, ownOK: true, freshOK: true}}, // before the step
		{at: t0.Add(time.Second), cpu: 40, nodeCPU: nodeCPU{own: 0.5, fresh: 0.2, ownOK: true, freshOK: true}},
		{at: t0.Add(2 * time.Second), cpu: 60, nodeCPU: nodeCPU{own: 0.7, fresh: 0.4, ownOK: true, freshOK: true}},
		{at: t0.Add(3 * time.Second), cpu: 50}, // nodes not sampled this tick
	}}
	fresh := metrics.ScalePoint{From: t0.Add(time.Second), To: t0.Add(3 * time.Second), Fresh: true}
	x.stepCPU(&fresh)
	if fresh.CPU != 50 || math.Abs(fresh.NodesCPU-0.3) > 1e-9 || math.Abs(fresh.IdleCPU-0.6) > 1e-9 {
		t.Errorf("fresh step: CPU %v, nodes %v, idle %v; want 50, 0.3, 0.6", fresh.CPU, fresh.NodesCPU, fresh.IdleCPU)
	}
	own := metrics.ScalePoint{From: t0.Add(time.Second), To: t0.Add(3 * time.Second)}
	x.stepCPU(&own)
	if math.Abs(own.NodesCPU-0.6) > 1e-9 || own.IdleCPU != 0 {
		t.Errorf("the run's own step: nodes %v, idle %v; want 0.6 and none", own.NodesCPU, own.IdleCPU)
	}
}


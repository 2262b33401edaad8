package suites

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

func TestUnsettledSaysWhatIsNotSettled(t *testing.T) {
	node := func(id string) core.NodeStatus { return core.NodeStatus{ID: id, Up: true, State: "up"} }
	rep := func(n string, commit, applied uint64) core.ReplicaStatus {
		return core.ReplicaStatus{Node: n, State: "follower", CommitIndex: commit, AppliedIndex: applied}
	}
	settled := func() core.Status {
		return core.Status{MetaLeader: "n1", Nodes: []core.NodeStatus{node("n1"), node("n2"), node("n3")},
			Shards: []core.ShardStatus{{ID: 0, Leader: "n1", Replicas: []core.ReplicaStatus{rep("n1", 10, 10), rep("n2", 10, 10), rep("n3", 9, 9)}}}}
	}
	for _, c := range []struct {
		name string
		edit func(*core.Status)
		want string
	}{
		{"settled", func(*core.Status) {}, ""},
		{"a node left behind", func(s *core.Status) { s.Nodes = append(s.Nodes, node("n4")) }, "4 nodes, not its 3"},
		{"a node joining", func(s *core.Status) { s.Nodes[2].State = "joining" }, "n3 is joining"},
		{"no leader", func(s *core.Status) { s.Shards[0].Leader = "" }, "shard 0 has no leader"},
		{"no meta leader", func(s *core.Status) { s.MetaLeader = "" }, "meta group"},
		{"a replica behind", func(s *core.Status) { s.Shards[0].Replicas[2] = rep("n3", 2, 2) }, "on n3 is 8 entries behind"},
		{"a replica applying behind", func(s *core.Status) { s.Shards[0].Replicas[1] = rep("n2", 10, 3) }, "on n2 is 7 entries behind"},
		{"a crashed node is not waited for", func(s *core.Status) {
			s.Nodes[2].Up = false
			s.Shards[0].Replicas[2] = core.ReplicaStatus{Node: "n3", State: "shutdown"}
		}, ""},
		{"a killed replica on a live node is", func(s *core.Status) { s.Shards[0].Replicas[2] = core.ReplicaStatus{Node: "n3", State: "shutdown"} }, "not running"},
	} {
		st := settled()
		c.edit(&st)
		got := unsettled(st, 3)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// seeSuite records the cluster as its Prepare finds it.
type seeSuite struct {
	fakeSuite
	seen core.Status
}

func (s *seeSuite) Prepare(_ context.Context, env Env) (Workload, error) {
	s.seen = env.DB.Status()
	return s, nil
}

// A suite starts on a settled cluster: the node the suite before it left
// behind is gone, every replica caught up; the wait shows as the settling
// phase and an event, and records no op.
func TestSuitesStartSettled(t *testing.T) {
	pattern := []time.Duration{time.Millisecond}
	added := make(chan string, 1)
	a := &probeSuite{fakeSuite: fakeSuite{name: "a", pattern: pattern, pace: 10 * time.Millisecond}, after: 100 * time.Millisecond,
		act: func(ctx context.Context, db DB) {
			id, err := db.AddNode(ctx)
			if err != nil {
				t.Errorf("add: %v", err)
			}
			added <- id
		}}
	b := &seeSuite{fakeSuite: fakeSuite{name: "b", pattern: pattern, pace: 10 * time.Millisecond}}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Clients = 1
	cfg.Duration = time.Second
	var phases []metrics.Phase
	cfg.OnSnapshot = func(s *metrics.Snapshot) {
		if n := len(phases); n == 0 || phases[n-1] != s.Phase {
			phases = append(phases, s.Phase)
		}
	}
	r := newRunner(cfg, []Suite{a, b})
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id := <-added
	if n := len(b.seen.Nodes); n != 3 {
		t.Errorf("suite b started on %d nodes, want the configured 3 (%s removed)", n, id)
	}
	if why := unsettled(b.seen, 3); why != "" {
		t.Errorf("suite b started on an unsettled cluster: %s", why)
	}
	var settledEvents int
	for _, e := range report.Events {
		if strings.HasPrefix(e.Message, "cluster settled before suite ") {
			settledEvents++
		}
	}
	if settledEvents != 2 {
		t.Errorf("%d settled events, want one before each suite: %+v", settledEvents, report.Events)
	}
	want := []metrics.Phase{metrics.PhaseStarting, metrics.PhaseSettling, metrics.PhaseRunning, metrics.PhaseSettling, metrics.PhaseRunning}
	if len(phases) < len(want) || !slicesEqual(phases[:len(want)], want) {
		t.Errorf("phases %v, want %v first", phases, want)
	}
	// Settling records nothing: b's op ran no longer than its suite.
	if o := report.Suites["b"].Ops["b.op"]; o.ElapsedSeconds > cfg.Duration.Seconds()+0.5 {
		t.Errorf("b.op over %.2fs, longer than its suite", o.ElapsedSeconds)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// failRemove is a DB whose RemoveNode always fails, as when the node to
// remove died on its own.
type failRemove struct{ DB }

func (failRemove) RemoveNode(context.Context, string) error {
	return errors.New("node gone")
}

// A node the settling step cannot remove holds the run no longer than
// settleTimeout: the suite starts anyway, with an event saying why.
func TestSettleGivesUpOnANodeItCannotRemove(t *testing.T) {
	defer func(d time.Duration) { settleTimeout = d }(settleTimeout)
	settleTimeout = 500 * time.Millisecond
	pattern := []time.Duration{time.Millisecond}
	a := &probeSuite{fakeSuite: fakeSuite{name: "a", pattern: pattern, pace: 10 * time.Millisecond}, after: 100 * time.Millisecond,
		act: func(ctx context.Context, db DB) {
			if _, err := db.AddNode(ctx); err != nil {
				t.Errorf("add: %v", err)
			}
		}}
	b := &seeSuite{fakeSuite: fakeSuite{name: "b", pattern: pattern, pace: 10 * time.Millisecond}}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Clients = 1
	cfg.Duration = time.Second
	r := newRunner(cfg, []Suite{a, b})
	open := r.open
	r.open = func(ctx context.Context, ccfg core.Config) (DB, error) {
		db, err := open(ctx, ccfg)
		if err != nil {
			return nil, err
		}
		return failRemove{db}, nil
	}
	done := make(chan *metrics.Report, 1)
	go func() {
		report, err := r.Run(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- report
	}()
	select {
	case report := <-done:
		if report == nil {
			return
		}
		var gaveUp bool
		for _, e := range report.Events {
			gaveUp = gaveUp || strings.HasPrefix(e.Message, "cluster not settled before suite b")
		}
		if !gaveUp {
			t.Errorf("no event says the cluster did not settle before b: %+v", report.Events)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the run is still settling a minute on: a removal that keeps failing holds it for good")
	}
}

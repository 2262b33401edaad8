package suites

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

func TestNodeActionStrings(t *testing.T) {
	for _, tc := range []struct {
		a    knob.Action
		want string
	}{
		{knob.Action{Verb: knob.VerbCrash, Node: "n2"}, "crash=n2"},
		{knob.Action{Verb: knob.VerbCrash}, "crash"},
		{knob.Action{Verb: knob.VerbRestart, Node: "n2"}, "restart=n2"},
		{knob.Action{Verb: knob.VerbRestart}, "restart"},
		{knob.Action{Verb: knob.VerbPartition, Node: "n3"}, "partition=n3"},
		{knob.Action{Verb: knob.VerbPartition}, "partition"},
		{knob.Action{Verb: knob.VerbHeal}, "heal"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestNodeActionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		a    knob.Action
		want string // "" when valid
	}{
		{knob.Action{Verb: knob.VerbCrash}, ""},
		{knob.Action{Verb: knob.VerbCrash, Node: "n12"}, ""},
		{knob.Action{Verb: knob.VerbRestart}, ""},
		{knob.Action{Verb: knob.VerbPartition}, ""},
		{knob.Action{Verb: knob.VerbCrash, Node: "leader"}, `"leader" is not a node`},
		{knob.Action{Verb: knob.VerbRestart, Node: "n"}, `"n" is not a node`},
		{knob.Action{Verb: knob.VerbPartition, Node: "3"}, `"3" is not a node`},
	} {
		err := tc.a.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: err = %v, want %q", tc.a, err, tc.want)
		}
	}
}

// status builds a cluster status: nodes[i] is "n<i+1>", up unless in
// down, partitioned if in cut; shards[s] lists its replicas' nodes, the
// first leading. Every node hosts a meta voter unless meta is set.
func status(nodes int, down, cut []string, meta []string, shards ...[]string) core.Status {
	var st core.Status
	for i := range nodes {
		id := "n" + string(rune('1'+i))
		st.Nodes = append(st.Nodes, core.NodeStatus{ID: id, Up: !slices.Contains(down, id), Partitioned: slices.Contains(cut, id),
			Meta: meta == nil || slices.Contains(meta, id)})
	}
	for s, reps := range shards {
		sh := core.ShardStatus{ID: s, Leader: reps[0]}
		for _, n := range reps {
			state := "follower"
			if slices.Contains(down, n) {
				state = "shutdown"
			}
			sh.Replicas = append(sh.Replicas, core.ReplicaStatus{Node: n, State: state})
		}
		st.Shards = append(st.Shards, sh)
		for i := range st.Nodes {
			if st.Nodes[i].ID == reps[0] {
				st.Nodes[i].Leaderships++
			}
		}
	}
	return st
}

func TestFaultTargets(t *testing.T) {
	r := []string{"n1", "n2", "n3"}
	three := status(3, nil, nil, nil, r, []string{"n2", "n3", "n1"}, []string{"n2", "n1", "n3"})
	// Five nodes, three replicas a shard, meta on n1..n3; n2 leads most.
	five := func(down, cut []string) core.Status {
		return status(5, down, cut, r,
			[]string{"n2", "n3", "n4"}, []string{"n2", "n4", "n5"}, []string{"n1", "n2", "n3"}, []string{"n4", "n5", "n1"})
	}
	for _, tc := range []struct {
		name    string
		verb    string
		st      core.Status
		node    string
		want    []string // node(s) acted on
		wantErr string
	}{
		{name: "crash picks the node leading most", verb: knob.VerbCrash, st: three, want: []string{"n2"}},
		{name: "crash named", verb: knob.VerbCrash, st: three, node: "n3", want: []string{"n3"}},
		{name: "crash unknown", verb: knob.VerbCrash, st: three, node: "n9", wantErr: "there is no node n9; the cluster has n1, n2, n3"},
		{name: "crash twice", verb: knob.VerbCrash, st: status(3, []string{"n2"}, nil, nil, r), node: "n2", wantErr: "n2 is crashed already"},
		{name: "crash named loses quorum", verb: knob.VerbCrash, st: status(3, []string{"n2"}, nil, nil, r), node: "n1",
			wantErr: "crashing n1 would leave shard 0 without a quorum"},
		{name: "crash picked loses quorum", verb: knob.VerbCrash, st: status(3, []string{"n2"}, nil, nil, r),
			wantErr: "crashing another node would leave shard 0 without a quorum"},
		{name: "a partitioned replica is not live", verb: knob.VerbCrash, st: status(3, nil, []string{"n3"}, nil, r), node: "n1",
			wantErr: "crashing n1 would leave shard 0 without a quorum"},
		{name: "crashing a partitioned node costs no quorum", verb: knob.VerbCrash, st: status(3, nil, []string{"n3"}, nil, r), want: []string{"n3"}},
		{name: "crash skips nodes whose loss costs a quorum", verb: knob.VerbCrash, st: five([]string{"n3"}, nil), want: []string{"n5"}},
		{name: "crash guards the meta group", verb: knob.VerbCrash, st: status(5, []string{"n3"}, nil, r, []string{"n4", "n5", "n1"}), node: "n1",
			wantErr: "crashing n1 would leave the meta group without a quorum"},
		{name: "crash with every node down", verb: knob.VerbCrash, st: status(1, []string{"n1"}, nil, nil), wantErr: "nothing to crash"},
		{name: "partition picks the node leading most", verb: knob.VerbPartition, st: three, want: []string{"n2"}},
		{name: "partition skips the partitioned and nodes whose loss costs a quorum", verb: knob.VerbPartition, st: five(nil, []string{"n5"}), want: []string{"n3"}},
		{name: "partition skips the crashed and nodes whose loss costs a quorum", verb: knob.VerbPartition, st: five([]string{"n5"}, nil), want: []string{"n3"}},
		{name: "partition picked never costs a quorum", verb: knob.VerbPartition, st: status(3, []string{"n2"}, nil, nil, r),
			wantErr: "partitioning another node would leave shard 0 without a quorum"},
		{name: "partition may cost a quorum", verb: knob.VerbPartition, st: status(3, []string{"n2"}, nil, nil, r), node: "n1", want: []string{"n1"}},
		{name: "partition unknown", verb: knob.VerbPartition, st: three, node: "n4", wantErr: "there is no node n4"},
		{name: "partition with nothing left", verb: knob.VerbPartition, st: status(2, []string{"n1"}, []string{"n2"}, nil), wantErr: "nothing to partition"},
		{name: "restart every crashed node", verb: knob.VerbRestart, st: five([]string{"n2", "n5"}, nil), want: []string{"n2", "n5"}},
		{name: "restart named", verb: knob.VerbRestart, st: five([]string{"n2", "n5"}, nil), node: "n5", want: []string{"n5"}},
		{name: "restart an up node", verb: knob.VerbRestart, st: three, node: "n1", wantErr: "n1 is up"},
		{name: "restart with none crashed", verb: knob.VerbRestart, st: three, wantErr: "no node is crashed"},
		{name: "restart unknown", verb: knob.VerbRestart, st: three, node: "n7", wantErr: "there is no node n7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var err error
			switch tc.verb {
			case knob.VerbCrash:
				var id, why string
				id, why, err = crashTarget(tc.st, tc.node)
				got = []string{id}
				if err == nil && (why != "") != (tc.node == "") {
					t.Errorf("why = %q: a picked node says so, a named one needs no reason", why)
				}
			case knob.VerbPartition:
				var id string
				id, _, err = partitionTarget(tc.st, tc.node)
				got = []string{id}
			case knob.VerbRestart:
				got, err = restartTargets(tc.st, tc.node)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestLeaderChangeSaysHowLongTheShardWasLeaderless(t *testing.T) {
	sh := core.ShardStatus{ID: 2, Leader: "n3", Term: 5}
	for _, tc := range []struct {
		e    core.Election
		want string
	}{
		{core.Election{Shard: 2, To: "n3", Term: 5, Took: 94*time.Millisecond + 300*time.Microsecond}, "shard 2 leader → n3 in 94ms (term 5)"},
		{core.Election{Shard: 2, To: "n3", Term: 5, Took: 850 * time.Microsecond}, "shard 2 leader → n3 in 850µs (term 5)"},
		{core.Election{Shard: 2, To: "n3", Term: 5}, "shard 2 leader → n3 (term 5)"},                    // no loss seen
		{core.Election{Shard: 2, To: "n1", Term: 4, Took: time.Second}, "shard 2 leader → n3 (term 5)"}, // an older election
		{core.Election{}, "shard 2 leader → n3 (term 5)"},                                               // none recorded
	} {
		if got := leaderChange(sh, tc.e); got != tc.want {
			t.Errorf("leaderChange(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

// On a real three-node cluster: crash lets the runner pick and then
// refuses to cost a quorum, restart brings the node back, partition picks
// a node and the snapshot shows it, and the events say what happened.
func TestNodeFaultsOnARealCluster(t *testing.T) {
	f := &fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}, pace: time.Millisecond}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Duration = time.Minute // ended by cancelling once the checks are done
	cfg.LogOutput = io.Discard
	r := newRunner(cfg, []Suite{f})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps []string
	fail := func(format string, a ...any) { steps = append(steps, fmt.Sprintf(format, a...)) }
	node := func(id string) metrics.Node {
		for _, n := range r.Latest().Cluster.Nodes {
			if n.ID == id {
				return n
			}
		}
		return metrics.Node{}
	}
	waitUntil := func(what string, cond func() bool) bool {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		fail("waited 30s for %s", what)
		return false
	}
	var mid *metrics.Report
	done := make(chan struct{})
	whenRunning(r, func() {
		defer close(done)
		defer cancel()
		bg := context.Background()
		if err := r.Control(bg, knob.Action{Verb: knob.VerbCrash, Node: "n9"}); err == nil || !strings.Contains(err.Error(), "there is no node n9") {
			fail("crash=n9: err = %v, want no such node", err)
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbCrash}); err != nil {
			fail("crash: %v", err)
			return
		}
		var crashed string
		for _, n := range r.Latest().Cluster.Nodes {
			if !n.Up {
				crashed = n.ID
			}
		}
		if crashed == "" {
			fail("after crash, every node is up: %+v", r.Latest().Cluster.Nodes)
			return
		}
		// The shard the crashed node led elects another leader, and the
		// runner says so.
		if !waitUntil("an election event", func() bool {
			return slices.ContainsFunc(r.Latest().Events, func(e metrics.Event) bool { return e.Kind == metrics.EventElection })
		}) {
			return
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbCrash}); err == nil || !strings.Contains(err.Error(), "without a quorum") {
			fail("second crash: err = %v, want a refusal that would cost a quorum", err)
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbRestart}); err != nil {
			fail("restart: %v", err)
			return
		}
		// A second restart at the same moment does not take the node
		// again: it is restarting, or up by now.
		if err := r.Control(bg, knob.Action{Verb: knob.VerbRestart}); err == nil ||
			!(strings.Contains(err.Error(), crashed+" already restarting") || strings.Contains(err.Error(), "no node is crashed")) {
			fail("a second restart: err = %v, want %s already restarting", err, crashed)
		}
		if !waitUntil(crashed+" up and healthy", func() bool { n := node(crashed); return n.Up && n.State == "up" }) {
			return
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbPartition}); err != nil {
			fail("partition: %v", err)
			return
		}
		var cut []string
		for _, n := range r.Latest().Cluster.Nodes {
			if n.Partitioned {
				cut = append(cut, n.ID)
			}
		}
		if len(cut) != 1 {
			fail("after partition, %v partitioned; want one node", cut)
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbHeal}); err != nil {
			fail("heal: %v", err)
		}
		for _, n := range r.Latest().Cluster.Nodes {
			if n.Partitioned {
				fail("after heal, %s still partitioned", n.ID)
			}
		}
		// The snapshot that shows the new epoch comes a tick later.
		if waitUntil("the heal epoch", func() bool { return r.Latest().EpochChange == "heal" }) {
			mid = r.Report()
		}
	})
	report, err := r.Run(ctx)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		t.Error(s)
	}
	has := func(kind metrics.EventKind, text string) bool {
		return slices.ContainsFunc(report.Events, func(e metrics.EventReport) bool {
			return e.Kind == string(kind) && strings.Contains(e.Message, text)
		})
	}
	for _, want := range []struct {
		kind metrics.EventKind
		text string
	}{
		{metrics.EventFault, "(picked by the runner"},
		{metrics.EventFault, " restarted"},
		{metrics.EventFault, "off the network"},
		{metrics.EventFault, "healed every partition"},
		{metrics.EventEpoch, ": crash=n"},
		{metrics.EventEpoch, ": restart"},
		{metrics.EventEpoch, ": partition=n"},
		{metrics.EventElection, " leader → n"},
	} {
		if !has(want.kind, want.text) {
			t.Errorf("no %s event with %q in %+v", want.kind, want.text, report.Events)
		}
	}
	for _, e := range report.Events {
		t.Logf("%6.3fs %-10s %s", e.AtSeconds, e.Kind, e.Message)
	}
	if mid == nil {
		t.Fatal("no mid-run report")
	}
	if !mid.Partial || mid.Interrupted {
		t.Errorf("mid-run report: partial %v, interrupted %v; want partial only", mid.Partial, mid.Interrupted)
	}
	// start, then one epoch for each control that took.
	if n := len(mid.Epochs); n != 5 || mid.Epochs[4].Change != "heal" {
		t.Errorf("mid-run report has epochs %+v, want five ending with the current one, heal", mid.Epochs)
	}
}

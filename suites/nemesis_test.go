package suites

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// The nemesis's schedule repeats with the seed, stays within its bounds,
// and alternates fault and undo.
func TestNemesisScheduleIsSeededAndBounded(t *testing.T) {
	a, b, c := newNemesis(knob.NemesisFaults, 7), newNemesis(knob.NemesisFaults, 7), newNemesis(knob.NemesisFaults, 8)
	defer a.stop()
	defer b.stop()
	defer c.stop()
	if newNemesis(nil, 1) != nil {
		t.Fatal("a nemesis with no faults")
	}
	same, differs := true, false
	for range 100 {
		ga, gb, gc := a.between(nemesisGap), b.between(nemesisGap), c.between(nemesisGap)
		same = same && ga == gb
		differs = differs || ga != gc
		if ga < nemesisGap[0] || ga > nemesisGap[1] {
			t.Fatalf("gap %v outside %v", ga, nemesisGap)
		}
	}
	if !same || !differs {
		t.Errorf("same seed same gaps: %v; another seed other gaps: %v", same, differs)
	}
	// Every planned fault but a kill comes with its undo.
	st := status(5, nil, nil, []string{"n1", "n2", "n3"}, []string{"n1", "n2", "n3"}, []string{"n3", "n4", "n5"})
	kinds := map[string]bool{}
	for range 200 {
		do, undo, err := a.plan(st, 3*time.Millisecond)
		if err != nil {
			t.Fatalf("plan on a healthy cluster: %v", err)
		}
		kinds[do.Verb] = true
		want := map[string]string{knob.VerbCrash: knob.VerbRestart, knob.VerbPartition: knob.VerbHeal, knob.VerbNetDelay: knob.VerbNetDelay}[do.Verb]
		switch {
		case do.Verb == knob.VerbKillLeader && undo != nil:
			t.Errorf("kill-leader undone by %v: it recovers on its own", undo)
		case do.Verb != knob.VerbKillLeader && (undo == nil || undo.Verb != want):
			t.Errorf("%v undone by %v, want %s", do, undo, want)
		case do.Verb == knob.VerbCrash && undo.Node != do.Node:
			t.Errorf("%v undone by %v: restart the node crashed", do, undo)
		case do.Verb == knob.VerbNetDelay && (undo.Delay != 3*time.Millisecond || do.Delay <= undo.Delay):
			t.Errorf("%v undone by %v: add to the delay in force, then restore it", do, undo)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("planned only %v", kinds)
	}
}

// The nemesis never picks a node whose loss costs a quorum, and says so
// when every node would.
func TestNemesisPicksWithinTheQuorumGuard(t *testing.T) {
	n := newNemesis([]string{knob.FaultCrash, knob.FaultPartition}, 1)
	defer n.stop()
	r := []string{"n1", "n2", "n3"}
	// Five nodes, n5 down: losing n1, n2 or n4 costs a shard its quorum.
	st := status(5, []string{"n5"}, nil, r, []string{"n2", "n3", "n4"}, []string{"n2", "n4", "n5"}, []string{"n1", "n2", "n3"}, []string{"n4", "n5", "n1"})
	picked := map[string]bool{}
	for range 100 {
		do, _, err := n.plan(st, 0)
		if err != nil {
			t.Fatal(err)
		}
		if lost := quorumLost(st, do.Node); lost != "" {
			t.Fatalf("%v would leave %s without a quorum", do, lost)
		}
		picked[do.Node] = true
	}
	if !picked["n3"] || len(picked) != 1 {
		t.Errorf("picked %v; only n3 keeps every quorum", picked)
	}
	// Three nodes, one down: any other loss costs a quorum.
	if do, _, err := n.plan(status(3, []string{"n2"}, nil, nil, r), 0); err == nil || !strings.Contains(err.Error(), "quorum") {
		t.Errorf("plan with no node to spare: %v, %v; want a refusal naming the quorum", do, err)
	}
}

// quorumWatch is a DB that checks, on every fault call and every status
// read, that no shard has fewer than a quorum of live replicas, and counts
// the leader kills of each shard running at once.
// watchQuorum has r run on an embedded cluster behind the returned watch.
func watchQuorum(r *Runner) *quorumWatch {
	w := &quorumWatch{}
	r.open = func(ctx context.Context, ccfg core.Config) (DB, error) {
		db, err := openEmbedded(ctx, ccfg)
		if err != nil {
			return nil, err
		}
		w.DB = db
		return w, nil
	}
	return w
}

type quorumWatch struct {
	DB
	mu       sync.Mutex
	below    []string
	killing  map[int]int
	maxKills atomic.Int64
}

func (q *quorumWatch) look() {
	st := q.DB.Status()
	live := map[string]bool{}
	for _, n := range st.Nodes {
		live[n.ID] = n.Up && !n.Partitioned
	}
	for _, sh := range st.Shards {
		n := 0
		for _, r := range sh.Replicas {
			if r.State != "shutdown" && live[r.Node] {
				n++
			}
		}
		if n < len(sh.Replicas)/2+1 {
			q.mu.Lock()
			if len(q.below) < 5 {
				q.below = append(q.below, fmt.Sprintf("shard %d with %d live", sh.ID, n))
			}
			q.mu.Unlock()
		}
	}
}

func (q *quorumWatch) Status() core.Status { q.look(); return q.DB.Status() }

func (q *quorumWatch) KillLeader(ctx context.Context, shard int) (string, error) {
	q.mu.Lock()
	if q.killing == nil {
		q.killing = map[int]int{}
	}
	q.killing[shard]++
	if n := int64(q.killing[shard]); n > q.maxKills.Load() {
		q.maxKills.Store(n)
	}
	q.mu.Unlock()
	defer func() { q.mu.Lock(); q.killing[shard]--; q.mu.Unlock() }()
	return q.DB.KillLeader(ctx, shard)
}

// On a real three-node cluster, with every fault on at a fast pace: each
// fault is an event and an epoch, crashes are restarted and partitions
// healed, no shard ever drops below a quorum, and the load still runs at
// the end.
func TestNemesisOnARealCluster(t *testing.T) {
	gap, hold := nemesisGap, nemesisHold
	nemesisGap, nemesisHold = [2]time.Duration{150 * time.Millisecond, 300 * time.Millisecond}, [2]time.Duration{150 * time.Millisecond, 300 * time.Millisecond}
	defer func() { nemesisGap, nemesisHold = gap, hold }()
	f := &envSuite{fakeSuite: fakeSuite{name: "fake"}}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Duration = 4 * time.Second
	cfg.OpTimeout = time.Second
	cfg.LogOutput = io.Discard
	cfg.Nemesis = knob.NemesisFaults
	r := newRunner(cfg, []Suite{f})
	watch := watchQuorum(r)
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range report.Epochs {
		if v, ok := strings.CutPrefix(e.Change, "nemesis "); ok {
			counts[strings.SplitN(v, "=", 2)[0]]++
		}
	}
	// Every step is an epoch, or an event saying why it was skipped (a
	// node still restarting leaves none to spare, say).
	skipped := 0
	for _, e := range report.Events {
		if strings.HasPrefix(e.Message, "nemesis: ") && strings.Contains(e.Message, "skipped") {
			skipped++
		}
	}
	faults := counts[knob.VerbCrash] + counts[knob.VerbPartition] + counts[knob.VerbKillLeader] + counts[knob.VerbNetDelay]
	if steps := faults + counts[knob.VerbRestart] + counts[knob.VerbHeal] + skipped; faults == 0 || steps < 4 {
		t.Errorf("nemesis epochs %v and %d skipped: want several steps in 4s at this pace, faults among them", counts, skipped)
	}
	// An undo follows every fault but the last, which the suite's end undoes.
	if d := counts[knob.VerbCrash] - counts[knob.VerbRestart]; d < 0 || d > 1 {
		t.Errorf("%d crashes, %d restarts", counts[knob.VerbCrash], counts[knob.VerbRestart])
	}
	if d := counts[knob.VerbPartition] - counts[knob.VerbHeal]; d < 0 || d > 1 {
		t.Errorf("%d partitions, %d heals", counts[knob.VerbPartition], counts[knob.VerbHeal])
	}
	if len(watch.below) > 0 {
		t.Errorf("a shard fell below its quorum: %v", watch.below)
	}
	if n := watch.maxKills.Load(); n > 1 {
		t.Errorf("%d kills of one shard at once", n)
	}
	t.Logf("nemesis epochs: %v", counts)
	if op := report.Suites["fake"].Ops["fake.op"]; op.Count == 0 {
		t.Errorf("no op succeeded under the nemesis: %+v", op)
	}
}

// killProbeSuite writes through the Env's DB and, besides, kills shard 0's
// leader through it each time fire is sent to: the consensus suite's
// election probe, on cue.
type killProbeSuite struct {
	envSuite
	fire chan struct{}
	done chan error
}

func (s *killProbeSuite) Prepare(ctx context.Context, env Env) (Workload, error) {
	s.db = env.DB
	return s, nil
}

func (s *killProbeSuite) Probe(ctx context.Context, _ *metrics.Recorder) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.fire:
		}
		_, err := s.db.KillLeader(ctx, 0)
		select {
		case s.done <- err:
		case <-ctx.Done():
			return
		}
	}
}

// The election probe's kill and a kill from the runner, of the same shard
// at the same moment, never run at once: one waits its turn or is refused
// with an event, and the load goes on.
func TestKillsOfOneShardAreSerialised(t *testing.T) {
	s := &killProbeSuite{envSuite: envSuite{fakeSuite: fakeSuite{name: "fake"}}, fire: make(chan struct{}), done: make(chan error)}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Shards = 1 // every kill-leader is of shard 0
	cfg.Duration = time.Minute
	cfg.LogOutput = io.Discard
	r := newRunner(cfg, []Suite{s})
	watch := watchQuorum(r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const rounds = 4
	var refused, controlErrs []string
	var after []uint64 // ops recorded in the second after each round
	whenRunning(r, func() {
		defer cancel()
		for i := range rounds {
			bg := context.Background()
			// Probe first on even rounds, the runner first on odd ones.
			var err error
			if i%2 == 0 {
				s.fire <- struct{}{}
				err = r.Control(bg, knob.Action{Verb: knob.VerbKillLeader})
			} else {
				err = r.Control(bg, knob.Action{Verb: knob.VerbKillLeader})
				s.fire <- struct{}{}
			}
			if err != nil {
				refused = append(refused, err.Error())
			}
			if perr := <-s.done; perr != nil {
				controlErrs = append(controlErrs, "probe: "+perr.Error())
			}
			// Wait for the runner's kill, if it ran, to finish.
			for !killSettled(r.Latest(), i+1-len(refused)) {
				time.Sleep(20 * time.Millisecond)
			}
			before := total(r.Latest(), "fake.op")
			time.Sleep(time.Second)
			after = append(after, total(r.Latest(), "fake.op")-before)
		}
	})
	report, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := watch.maxKills.Load(); n != 1 {
		t.Errorf("at most %d kills of shard 0 ran at once, want exactly 1", n)
	}
	if len(watch.below) > 0 {
		t.Errorf("shard 0 fell below its quorum: %v", watch.below)
	}
	if len(controlErrs) > 0 {
		t.Errorf("probe kills failed: %v", controlErrs)
	}
	for _, e := range refused {
		if !strings.Contains(e, "still waiting for its successor") {
			t.Errorf("refusal %q does not say why", e)
		}
	}
	waits := 0
	for _, e := range report.Events {
		if strings.Contains(e.Message, "waits for kill-leader to finish") {
			waits++
		}
	}
	if waits+len(refused) == 0 {
		t.Errorf("%d rounds of simultaneous kills, and neither a wait nor a refusal showed", rounds)
	}
	for i, n := range after {
		if n == 0 {
			t.Errorf("round %d: no op succeeded in the second after the kills", i)
		}
	}
}

// killSettled reports whether the runner's kills so far (want of them)
// have each ended, killed or refused, as its events say.
func killSettled(s *metrics.Snapshot, want int) bool {
	n := 0
	for _, e := range s.Events {
		if strings.Contains(e.Message, "a new one took over") || strings.Contains(e.Message, "kill-leader on shard") {
			n++
		}
	}
	return n >= want
}

func total(s *metrics.Snapshot, op string) uint64 {
	o, _ := s.Op(op)
	return o.Total.Count
}

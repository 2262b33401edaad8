package suites

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// whenRunning calls f once the runner's first suite is running.
func whenRunning(r *Runner, f func()) {
	go func() {
		for r.Latest().Phase != metrics.PhaseRunning {
			time.Sleep(5 * time.Millisecond)
		}
		f()
	}()
}

// More clients mean more throughput, and the change splits the run into two
// epochs whose figures add up to the whole.
func TestClientsChangeOpensAnEpoch(t *testing.T) {
	f := &fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}, pace: 10 * time.Millisecond}
	cfg := fakeConfig()
	cfg.Clients = 2
	cfg.Duration = 1500 * time.Millisecond
	r := newRunner(cfg, []Suite{f})
	errc := make(chan error, 1)
	whenRunning(r, func() {
		time.Sleep(600 * time.Millisecond)
		errc <- r.Control(context.Background(), knob.Action{Verb: knob.VerbClients, Count: 8})
	})
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Control: %v", err)
	}
	if len(report.Epochs) != 2 {
		t.Fatalf("%d epochs, want 2: %+v", len(report.Epochs), report.Epochs)
	}
	e1, e2 := report.Epochs[0], report.Epochs[1]
	if e1.Change != "start" || e2.Change != "clients=8" || e1.EndS != e2.StartS {
		t.Errorf("epochs %+v / %+v: want start then clients=8, back to back", e1, e2)
	}
	a, b := e1.Ops["fake.op"], e2.Ops["fake.op"]
	if total := report.Suites["fake"].Ops["fake.op"].Count; a.Count+b.Count != total {
		t.Errorf("epochs count %d + %d, the run %d", a.Count, b.Count, total)
	}
	if b.OpsPerSec < 2.5*a.OpsPerSec {
		t.Errorf("8 clients ran %.0f ops/s, 2 ran %.0f: the change did not take", b.OpsPerSec, a.OpsPerSec)
	}
}

// Pausing holds the clients and stops the clocks: the suite runs its full
// load time after resuming.
func TestPauseHoldsTheLoad(t *testing.T) {
	f := &fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}, pace: time.Millisecond}
	cfg := fakeConfig()
	cfg.Duration = time.Second
	r := newRunner(cfg, []Suite{f})
	var during atomic.Int64
	var shownPaused, shownResumed atomic.Bool
	errs := make(chan error, 2)
	whenRunning(r, func() {
		time.Sleep(300 * time.Millisecond)
		errs <- r.Control(context.Background(), knob.Action{Verb: knob.VerbPause})
		time.Sleep(50 * time.Millisecond) // the ops in flight finish
		before := f.recorded.Load()
		time.Sleep(500 * time.Millisecond)
		during.Store(int64(f.recorded.Load() - before))
		shownPaused.Store(r.Latest().Paused)
		errs <- r.Control(context.Background(), knob.Action{Verb: knob.VerbResume})
		time.Sleep(2 * cfg.Tick)
		shownResumed.Store(!r.Latest().Paused)
	})
	start := time.Now()
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := during.Load(); n != 0 {
		t.Errorf("%d ops ran while paused", n)
	}
	if !shownPaused.Load() || !shownResumed.Load() {
		t.Errorf("snapshots said paused %v while paused, resumed %v after resuming", shownPaused.Load(), shownResumed.Load())
	}
	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Errorf("the suite took %v: the pause should not count toward its 1s", took)
	}
	if el := report.Suites["fake"].Ops["fake.op"].ElapsedSeconds; el > 1.3 {
		t.Errorf("measured %.2fs of load: paused time counted", el)
	}
}

// Scripted actions fire at their time (±1 tick) and reach the core: a
// network delay shows in the commit latency of the epoch it opens.
func TestScriptedActionsFireOnTimeAndReachTheCore(t *testing.T) {
	var cfg Config
	report := runReal(t, func(c *Config) {
		c.Clients = 4
		c.Duration = 2 * time.Second
		c.At = []knob.TimedAction{{At: time.Second, Action: knob.Action{Verb: knob.VerbNetDelay, Delay: 5 * time.Millisecond}}}
		cfg = *c
	})
	var at float64 = -1
	for _, e := range report.Events {
		if strings.Contains(e.Message, "net-delay=5ms") {
			at = e.AtSeconds
		}
	}
	// Never early; late by a tick at most on a quiet machine. Test packages
	// run in parallel under the race detector on 2 cores, which can hold
	// the runner's goroutine back for a few ticks, so allow four.
	if at < 1 || at > 1+4*cfg.Tick.Seconds() {
		t.Errorf("net-delay fired at %.3fs, want 1s, late by a tick or so", at)
	}
	if len(report.Epochs) != 2 {
		t.Fatalf("%d epochs, want 2", len(report.Epochs))
	}
	before, after := report.Epochs[0].Ops["consensus.submit"], report.Epochs[1].Ops["consensus.submit"]
	// A commit after the change waits a round trip to a quorum, at least
	// 2 × 5 ms, so the median does (a few ops in flight at the change may
	// not); before it, the fastest commit was quicker than that. No upper
	// bounds: a busy machine moves every percentile up.
	if after.LatencyMs.P50 < 10 || before.LatencyMs.Min >= 10 {
		t.Errorf("submit p50 %.2fms after a 5ms one-way delay, fastest before %.2fms", after.LatencyMs.P50, before.LatencyMs.Min)
	}
}

// A live data-size change grows raft's timeouts before the larger values
// come (core's SetEntryBytes): the epoch it opens runs with a heartbeat
// timeout longer by the time to move one value. (The keyspace, sized for
// the first data size, leaves room to grow values only while they are
// small: 20 KiB here, 0.2 ms more.)
func TestDataSizeGrowsTheTimeouts(t *testing.T) {
	report := runReal(t, func(c *Config) {
		c.Clients = 2
		c.Duration = 1500 * time.Millisecond
		c.DataSize = 1 << 10
		c.At = []knob.TimedAction{{At: 500 * time.Millisecond, Action: knob.Action{Verb: knob.VerbDataSize, Size: 20 << 10}}}
	})
	if len(report.Epochs) != 2 || report.Epochs[0].Timeouts == nil || report.Epochs[1].Timeouts == nil {
		t.Fatalf("%d epochs, want two with their timeouts; events %+v", len(report.Epochs), report.Events)
	}
	before, after := report.Epochs[0].Timeouts.HeartbeatMs, report.Epochs[1].Timeouts.HeartbeatMs
	if grown := after - before; grown < 0.15 || grown > 0.25 {
		t.Errorf("heartbeat timeout %.3fms before data-size=20KiB, %.3fms after; want it grown by 0.195ms", before, after)
	}
}

func TestScriptedActionsAreValidated(t *testing.T) {
	for _, c := range []struct {
		a    knob.TimedAction
		want string
	}{
		{knob.TimedAction{At: time.Minute, Action: knob.Action{Verb: knob.VerbHeal}}, "comes after the load ends"},
		{knob.TimedAction{At: time.Second, Action: knob.Action{Verb: knob.VerbClients, Count: 0}}, "clients must be between"},
		{knob.TimedAction{At: time.Second, Action: knob.Action{Verb: "explode"}}, `unknown action "explode"`},
	} {
		cfg := DefaultConfig()
		cfg.At = []knob.TimedAction{c.a}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.a, err, c.want)
		}
	}
}

func TestControlWithoutARunningSuite(t *testing.T) {
	r := newRunner(fakeConfig(), nil)
	if err := r.Control(context.Background(), knob.Action{Verb: knob.VerbHeal}); err != ErrNotRunning {
		t.Errorf("err = %v, want ErrNotRunning", err)
	}
	if err := r.Control(context.Background(), knob.Action{Verb: "nope"}); err == nil || !strings.Contains(err.Error(), "unknown action") {
		t.Errorf("err = %v, want unknown action", err)
	}
}

// Every verb Control accepts has a method that carries it out, and no
// method is left without a verb Control accepts.
func TestEveryVerbHasAnAction(t *testing.T) {
	verbs := []string{knob.VerbClients, knob.VerbNodes, knob.VerbDataSize, knob.VerbRate, knob.VerbNetDelay, knob.VerbDuration, knob.VerbKillLeader,
		knob.VerbCrash, knob.VerbRestart, knob.VerbPartition, knob.VerbHeal, knob.VerbPause, knob.VerbResume}
	for _, v := range verbs {
		if err := (knob.Action{Verb: v}).Validate(); err != nil && strings.Contains(err.Error(), "unknown action") {
			t.Errorf("%s: validate does not know it", v)
		}
		if actions[v] == nil {
			t.Errorf("%s: no method carries it out", v)
		}
	}
	if len(actions) != len(verbs) {
		t.Errorf("%d action methods for %d verbs", len(actions), len(verbs))
	}
}

// The verbs the other tests leave out, on a real cluster: rate and
// data-size refuse a suite they cannot act on, kill-leader and nodes go on
// in the background and report in a later snapshot's events, and a
// duration already run ends the suite.
func TestBackgroundAndRefusedActionsOnARealCluster(t *testing.T) {
	f := &fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}, pace: time.Millisecond}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Duration = time.Minute // ended by duration= once the checks are done
	r := newRunner(cfg, []Suite{f})
	var steps []string
	fail := func(format string, a ...any) { steps = append(steps, fmt.Sprintf(format, a...)) }
	event := func(kind metrics.EventKind, text string) bool {
		return slices.ContainsFunc(r.Latest().Events, func(e metrics.Event) bool {
			return e.Kind == kind && strings.Contains(e.Message, text)
		})
	}
	waitFor := func(kind metrics.EventKind, text string) {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if event(kind, text) {
				return
			}
		}
		fail("waited 30s for a %s event with %q", kind, text)
	}
	done := make(chan struct{})
	whenRunning(r, func() {
		defer close(done)
		bg := context.Background()
		if err := r.Control(bg, knob.Action{Verb: knob.VerbRate, Rate: 100}); err == nil || !strings.Contains(err.Error(), "needs an open-loop run") {
			fail("rate=100 in the closed loop: err = %v", err)
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbDataSize, Size: 2048}); err == nil || !strings.Contains(err.Error(), "writes no values to resize") {
			fail("data-size on a suite without values: err = %v", err)
		}
		if err := r.Control(bg, knob.Action{Verb: knob.VerbKillLeader}); err != nil {
			fail("kill-leader: %v", err)
		}
		waitFor(metrics.EventFault, "leader on n")
		if err := r.Control(bg, knob.Action{Verb: knob.VerbNodes, Count: 4}); err != nil {
			fail("nodes=4: %v", err)
		}
		waitFor(metrics.EventMembership, "node n4 joined")
		if err := r.Control(bg, knob.Action{Verb: knob.VerbDuration, Delay: knob.MinDuration}); err != nil {
			fail("duration: %v", err)
		}
	})
	start := time.Now()
	report, err := r.Run(context.Background())
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		t.Error(s)
	}
	if took := time.Since(start); took > 45*time.Second {
		t.Errorf("the run took %v: duration= did not end the suite", took)
	}
	var changes []string
	for _, e := range report.Epochs {
		changes = append(changes, e.Change)
	}
	if want := []string{"start", "kill-leader", "nodes=4", "duration=500ms"}; !slices.Equal(changes, want) {
		t.Errorf("epochs %v, want %v: refused changes open none", changes, want)
	}
	if report.Cluster.Nodes != 4 {
		t.Errorf("the report shows %d nodes after nodes=4", report.Cluster.Nodes)
	}
}

// slowCrashDB is a database whose CrashNode waits, as the core's does for
// a restart or a node joining in the background to let go of the cluster.
type slowCrashDB struct {
	DB
	wait time.Duration
}

func (d slowCrashDB) CrashNode(id string) error {
	time.Sleep(d.wait)
	return d.DB.CrashNode(id)
}

// A live change that waits for the cluster does not stop the runner's
// ticks: snapshots go on coming while a crash waits 1.5 s for its turn,
// and the crash still opens its epoch once it is done.
func TestSlowChangeKeepsTicking(t *testing.T) {
	f := &fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}, pace: time.Millisecond}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Duration = 3 * time.Second
	const wait = 1500 * time.Millisecond
	cfg.At = []knob.TimedAction{{At: 500 * time.Millisecond, Action: knob.Action{Verb: knob.VerbCrash}}}
	var mu sync.Mutex
	var at []time.Duration // elapsed of each snapshot of load
	cfg.OnSnapshot = func(s *metrics.Snapshot) {
		if s.Phase == metrics.PhaseRunning {
			mu.Lock()
			at = append(at, s.Elapsed)
			mu.Unlock()
		}
	}
	r := newRunner(cfg, []Suite{f})
	r.open = func(ctx context.Context, ccfg core.Config) (DB, error) {
		db, err := openEmbedded(ctx, ccfg)
		if err != nil {
			return nil, err
		}
		return slowCrashDB{DB: db, wait: wait}, nil
	}
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i]-at[i-1])
	}
	// Ticks are 50 ms; a loaded machine may hold one back a few times
	// that, never the crash's 1.5 s.
	if gap >= wait/2 {
		t.Errorf("the longest gap between snapshots was %v: the runner waited with the crash", gap)
	}
	var changes []string
	for _, e := range report.Epochs {
		changes = append(changes, e.Change)
	}
	if len(changes) != 2 || !strings.HasPrefix(changes[1], "crash=") {
		t.Errorf("epochs %v, want the start's and the crash's", changes)
	}
	// A change still waiting when the suite's time is up does not keep
	// the load going: the suite ends on time, the change after it.
	if el := report.Suites["fake"].Ops["fake.op"].ElapsedSeconds; el > cfg.Duration.Seconds()+0.4 {
		t.Errorf("the suite measured %.2fs of load, want its %v", el, cfg.Duration)
	}
}

// The load ends on time even while a change waits for the cluster past it.
func TestSlowChangeAtTheEnd(t *testing.T) {
	f := &fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}, pace: time.Millisecond}
	cfg := fakeConfig()
	cfg.Nodes = 3
	cfg.Duration = time.Second
	cfg.At = []knob.TimedAction{{At: 600 * time.Millisecond, Action: knob.Action{Verb: knob.VerbCrash}}}
	r := newRunner(cfg, []Suite{f})
	r.open = func(ctx context.Context, ccfg core.Config) (DB, error) {
		db, err := openEmbedded(ctx, ccfg)
		if err != nil {
			return nil, err
		}
		return slowCrashDB{DB: db, wait: 1500 * time.Millisecond}, nil
	}
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if el := report.Suites["fake"].Ops["fake.op"].ElapsedSeconds; el > 1.4 {
		t.Errorf("the suite measured %.2fs of load, want its 1s: the crash waiting past the end kept it going", el)
	}
}

package suites

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// hangSuite's ops take about a millisecond until hang is set; from then
// on every op waits for its context, as a client retrying a leaderless
// shard does, and is left out of the figures when the context ends, as
// the suites leave out an op the run cut short.
type hangSuite struct{ hang atomic.Bool }

func (s *hangSuite) Name() string        { return "hang" }
func (s *hangSuite) Description() string { return "fake" }
func (s *hangSuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{{Name: "hang.op", Suite: "hang", Primary: true}}
}
func (s *hangSuite) Prepare(context.Context, Env) (Workload, error) { return s, nil }
func (s *hangSuite) Client(int) Client                              { return s }

func (s *hangSuite) Do(ctx context.Context, rec *metrics.Recorder) {
	start := time.Now()
	if s.hang.Load() {
		<-ctx.Done()
		return // cut short: not recorded, as observe does
	}
	time.Sleep(time.Millisecond)
	rec.Record(0, time.Since(start))
}

// snapshots keeps every snapshot a run publishes.
type snapshots struct {
	mu   sync.Mutex
	list []*metrics.Snapshot
}

func (s *snapshots) add(x *metrics.Snapshot) { s.mu.Lock(); s.list = append(s.list, x); s.mu.Unlock() }

// A stall is never silent: every op that hangs shows in the next
// snapshot's in-flight count, the open loop's lag grows while nothing
// starts, an op past the op timeout is an error of kind timeout, and the
// ops still hanging when the suite ends are reported, with their age.
func TestStallIsVisibleTimedOutAndReported(t *testing.T) {
	s := &hangSuite{}
	cfg := openConfig(400, 3*time.Second)
	cfg.Clients = 4
	cfg.OpTimeout = 1200 * time.Millisecond
	var snaps snapshots
	cfg.OnSnapshot = snaps.add
	r := newRunner(cfg, []Suite{s})
	var hungAt atomic.Int64 // elapsed load time when the ops began to hang
	go func() {
		for r.Latest().Phase != metrics.PhaseRunning || r.Latest().Elapsed < 300*time.Millisecond {
			time.Sleep(5 * time.Millisecond)
		}
		hungAt.Store(int64(r.Latest().Elapsed))
		s.hang.Store(true)
	}()
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	from := time.Duration(hungAt.Load())
	var during []*metrics.Snapshot // running snapshots after the hang, before the timeout
	sawWaiting := false
	for _, x := range snaps.list {
		if x.Phase != metrics.PhaseRunning {
			continue
		}
		sawWaiting = sawWaiting || x.InFlight.Waiting == cfg.Clients
		// Two ticks after the hang (one for it to reach every client's
		// next op), up to the timeout.
		if x.Elapsed > from+2*cfg.Tick && x.Elapsed < from+cfg.OpTimeout {
			during = append(during, x)
		}
	}
	if len(during) < 4 {
		t.Fatalf("only %d snapshots during the stall", len(during))
	}
	for _, x := range during {
		if x.InFlight.Ops != cfg.Clients {
			t.Fatalf("at %v the snapshot shows %d ops in flight, want all %d clients' stuck ops", x.Elapsed, x.InFlight.Ops, cfg.Clients)
		}
	}
	first, last := during[0], during[len(during)-1]
	if !(last.InFlight.Oldest > first.InFlight.Oldest && last.Load.Lag > first.Load.Lag) {
		t.Errorf("over the stall the oldest op went %v → %v and behind %v → %v; want both growing",
			first.InFlight.Oldest, last.InFlight.Oldest, first.Load.Lag, last.Load.Lag)
	}
	if last.Load.Lag < (last.Elapsed-from)/2 {
		t.Errorf("behind %v after %v of stall: the lag of the oldest iteration not started should follow the stall", last.Load.Lag, last.Elapsed-from)
	}
	if !sawWaiting {
		t.Errorf("no snapshot showed the %d clients waiting over %v", cfg.Clients, metrics.StallAfter)
	}
	op := report.Suites["hang"].Ops["hang.op"]
	if op.ErrorsByKind["timeout"] < uint64(cfg.Clients) {
		t.Errorf("errors by kind %v: want every stuck op past the op timeout counted as a timeout", op.ErrorsByKind)
	}
	suite := report.Suites["hang"]
	if suite.InFlightAtEnd == nil || *suite.InFlightAtEnd != cfg.Clients || suite.OldestInFlightMs == nil || *suite.OldestInFlightMs <= 0 {
		t.Errorf("in flight at end %v, oldest %v ms: want the %d ops still hanging, with their age", deref(suite.InFlightAtEnd), deref(suite.OldestInFlightMs), cfg.Clients)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// A suite that ends with nothing stuck says so: in flight at end is there,
// and small.
func TestQuietSuiteReportsLittleInFlight(t *testing.T) {
	report, err := newRunner(fakeConfig(), []Suite{&hangSuite{}}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := report.Suites["hang"]
	if s.InFlightAtEnd == nil || *s.InFlightAtEnd > fakeConfig().Clients || *s.OldestInFlightMs >= float64(metrics.StallAfter/time.Millisecond) {
		t.Errorf("in flight at end %v, oldest %v ms; want at most one op per client, none waiting", deref(s.InFlightAtEnd), deref(s.OldestInFlightMs))
	}
	if s.Ops["hang.op"].Errors != 0 {
		t.Errorf("errors %v without a stall", s.Ops["hang.op"].ErrorsByKind)
	}
}

package suites

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// stallSuite is a target whose ops take about a millisecond, except that
// every op running during a stall window waits for the window to end.
type stallSuite struct {
	stallFrom, stallTo atomic.Int64 // unix nanoseconds; 0 means no stall
	done               atomic.Uint64
}

func (s *stallSuite) Name() string        { return "stall" }
func (s *stallSuite) Description() string { return "fake" }
func (s *stallSuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{{Name: "stall.op", Suite: "stall", Primary: true}}
}
func (s *stallSuite) Prepare(context.Context, Env) (Workload, error) { return s, nil }
func (s *stallSuite) Client(int) Client                              { return s }

func (s *stallSuite) Do(ctx context.Context, rec *metrics.Recorder) {
	start := time.Now()
	if from, to := s.stallFrom.Load(), s.stallTo.Load(); from > 0 && start.UnixNano() >= from && start.UnixNano() < to {
		time.Sleep(time.Until(time.Unix(0, to)))
	} else {
		time.Sleep(500 * time.Microsecond)
	}
	rec.Record(0, time.Since(start))
	s.done.Add(1)
}

func openConfig(rate float64, d time.Duration) Config {
	cfg := fakeConfig()
	cfg.Rate = rate
	cfg.Duration = d
	return cfg
}

// With a target that keeps up, the open loop delivers the rate asked for.
func TestOpenLoopKeepsTheRate(t *testing.T) {
	s := &stallSuite{}
	const rate = 2000
	cfg := openConfig(rate, 2*time.Second)
	cfg.Clients = 16 // headroom: each client is idle most of its 8 ms interval
	report, err := newRunner(cfg, []Suite{s}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	op := report.Suites["stall"].Ops["stall.op"]
	if got := op.OpsPerSec; math.Abs(got-rate)/rate > 0.03 {
		t.Errorf("achieved %.0f ops/s, want %d within 3%%", got, rate)
	}
	if report.Load.Model != "open" || report.Load.TargetOpsPerSec != rate {
		t.Errorf("load %+v, want the open loop at %d", report.Load, rate)
	}
	if op.ServiceLatencyMs == nil {
		t.Fatal("no service time in the open loop")
	}
}

// The test that proves coordinated omission is handled: a 200 ms stall
// shows in the corrected p99, while the service time p99 stays normal.
func TestOpenLoopCorrectsCoordinatedOmission(t *testing.T) {
	s := &stallSuite{}
	cfg := openConfig(1000, 2*time.Second)
	r := newRunner(cfg, []Suite{s})
	go func() {
		// Stall half a second into the load, once the clients run.
		for r.Latest().Phase != metrics.PhaseRunning {
			time.Sleep(5 * time.Millisecond)
		}
		from := time.Now().Add(500 * time.Millisecond)
		s.stallTo.Store(from.Add(200 * time.Millisecond).UnixNano())
		s.stallFrom.Store(from.UnixNano())
	}()
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	op := report.Suites["stall"].Ops["stall.op"]
	if op.LatencyMs.P99 < 100 {
		t.Errorf("corrected p99 %.1fms, want the stall to show (≥ 100ms)", op.LatencyMs.P99)
	}
	// Normal ops take half a millisecond; on a busy machine, a few more.
	if op.ServiceLatencyMs.P99 > 50 || op.ServiceLatencyMs.P99*4 > op.LatencyMs.P99 {
		t.Errorf("service time p99 %.1fms (corrected %.1fms), want the target's normal latency", op.ServiceLatencyMs.P99, op.LatencyMs.P99)
	}
	if op.ServiceLatencyMs.Max < 100 {
		t.Errorf("service time max %.1fms: the stalled ops themselves should show", op.ServiceLatencyMs.Max)
	}
	if report.Load.Late == 0 || report.Load.MaxLagMs < 100 {
		t.Errorf("load %+v: the clients fell behind and it should say so", report.Load)
	}
	// The rate was not lowered: the clients caught up on the schedule.
	if got := op.OpsPerSec; math.Abs(got-1000)/1000 > 0.1 {
		t.Errorf("achieved %.0f ops/s after the stall, want 1000 within 10%%", got)
	}
}

// In the closed loop nothing is corrected and there is no service time.
func TestClosedLoopHasNoServiceTime(t *testing.T) {
	s := &stallSuite{}
	report, err := newRunner(fakeConfig(), []Suite{s}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if op := report.Suites["stall"].Ops["stall.op"]; op.ServiceLatencyMs != nil || report.Load.Model != "closed" {
		t.Errorf("closed loop reports service %v and model %q", op.ServiceLatencyMs, report.Load.Model)
	}
}

package metrics

import (
	"math"
	"testing"
	"time"
)

// TestSeriesSteps: an op's series is one point per step ticks, exact
// percentiles of each point's own latencies, counts adding up to the
// total, and a last short point when its suite ends.
func TestSeriesSteps(t *testing.T) {
	start := time.Unix(1000, 0)
	c, err := NewCollector([]OpSpec{{Name: "x.op", Suite: "x", Primary: true}}, 4, start)
	if err != nil {
		t.Fatal(err)
	}
	c.SetSeriesStep(2)
	c.Activate(0, 1)
	rec := c.NewRecorder(0, 1)
	at := start
	for tick := 1; tick <= 5; tick++ {
		// Tick k records k ms, k times: a point of ticks 1,2 has p50 2 ms.
		for range tick {
			rec.Record(0, time.Duration(tick)*time.Millisecond)
		}
		at = at.Add(250 * time.Millisecond)
		if tick == 4 {
			// A stale tick time: no step back in the series.
			c.Tick(start.Add(100 * time.Millisecond))
		}
		c.Tick(at)
	}
	c.Deactivate(0, 1)
	ops := c.Tick(at.Add(250 * time.Millisecond))
	s := ops[0].Series
	if len(s) != 3 {
		t.Fatalf("got %d points, want 3 (ticks 1-2, 3-4, and 5 cut short): %+v", len(s), s)
	}
	var sum uint64
	for i, p := range s {
		sum += p.Count
		if i > 0 && p.At < s[i-1].At {
			t.Errorf("point %d at %v is before point %d at %v", i, p.At, i-1, s[i-1].At)
		}
	}
	if sum != ops[0].Total.Count {
		t.Errorf("the points count %d, the total %d", sum, ops[0].Total.Count)
	}
	if s[0].Count != 3 || s[1].Count != 7 || s[2].Count != 5 {
		t.Errorf("counts %d %d %d, want 3 7 5", s[0].Count, s[1].Count, s[2].Count)
	}
	near(t, "point 1 p50", s[0].P50, 2*time.Millisecond)
	near(t, "point 2 p99", s[1].P99, 4*time.Millisecond)
	if s[0].Elapsed != 500*time.Millisecond {
		t.Errorf("point 1 spans %v, want 500ms", s[0].Elapsed)
	}
	if got := s[0].OpsPerSec; math.Abs(got-6) > 1e-9 {
		t.Errorf("point 1 at %v ops/s, want 6", got)
	}
	// The spectrum: min to max of every latency recorded.
	sp := ops[0].Spectrum
	if len(sp) != len(SpectrumPercentiles) || sp[0] != time.Millisecond || sp[len(sp)-1] != 5*time.Millisecond {
		t.Errorf("spectrum %v, want %d values from 1ms to 5ms", sp, len(SpectrumPercentiles))
	}
	for i := 1; i < len(sp); i++ {
		if sp[i] < sp[i-1] {
			t.Errorf("spectrum falls at %v: %v", SpectrumPercentiles[i], sp)
		}
	}
}

// TestSeriesOneTick: at the default step a point is a tick's own figures.
func TestSeriesOneTick(t *testing.T) {
	start := time.Unix(1000, 0)
	c, err := NewCollector([]OpSpec{{Name: "x.op", Suite: "x", Primary: true}}, 4, start)
	if err != nil {
		t.Fatal(err)
	}
	c.Activate(0, 1)
	rec := c.NewRecorder(0, 1)
	var ops []OpStats
	for tick := 1; tick <= 3; tick++ {
		for range tick {
			rec.Record(0, time.Duration(tick)*time.Millisecond)
		}
		rec.Fail(0, ErrTimeout)
		ops = c.Tick(start.Add(time.Duration(tick) * 250 * time.Millisecond))
		s := ops[0].Series
		if len(s) != tick {
			t.Fatalf("tick %d: %d points", tick, len(s))
		}
		p, f := s[tick-1], ops[0].Tick
		if p.Count != f.Count || p.Errors != 1 || p.P99 != f.Latency.P99 || p.OpsPerSec != f.OpsPerSec || p.Elapsed != 250*time.Millisecond {
			t.Errorf("tick %d: point %+v, the tick's figures %+v", tick, p, f)
		}
	}
}

func TestSeriesStepBound(t *testing.T) {
	for _, c := range []struct {
		d, tick time.Duration
		want    int
	}{{10 * time.Second, 250 * time.Millisecond, 1}, {10 * time.Minute, 250 * time.Millisecond, 4}, {time.Hour, 250 * time.Millisecond, 24}, {0, 0, 1}} {
		if got := SeriesStep(c.d, c.tick); got != c.want {
			t.Errorf("SeriesStep(%v, %v) = %d, want %d", c.d, c.tick, got, c.want)
		}
	}
}

func TestSystemSeries(t *testing.T) {
	s := NewSystemSeries(2)
	s.Add(time.Second, System{CPU: Gauge{Value: 10, OK: true}})
	s.Add(2*time.Second, System{CPU: Gauge{Value: 30, OK: true}, RSS: Gauge{Value: 5, OK: true}})
	s.Add(3*time.Second, System{})
	ps := s.Points()
	if len(ps) != 1 || ps[0].CPU != 20 || ps[0].RSS != 5 || !math.IsNaN(ps[0].DiskRead) || ps[0].At != 2*time.Second {
		t.Fatalf("points %+v, want one at 2s with CPU 20, RSS 5, no disk", ps)
	}
}

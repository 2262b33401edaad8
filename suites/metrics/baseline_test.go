package metrics

import (
	"testing"
	"time"
)

func opAt(avg time.Duration, rate float64) []OpStats {
	return []OpStats{{
		OpSpec: OpSpec{Name: "x.op", Suite: "x", Primary: true},
		Window: Figures{Count: 10, OpsPerSec: rate, Latency: Latency{Avg: avg}},
	}}
}

func TestEvaluatorIsEdgeTriggered(t *testing.T) {
	e := NewEvaluator(Baselines{MaxAvgLatency: 100 * time.Millisecond, MinThroughput: 1000, WarmUp: time.Second})
	running := map[string]time.Duration{"x": 5 * time.Second}
	steps := []struct {
		avg  time.Duration
		rate float64
		want []EventKind
	}{
		{10 * time.Millisecond, 5000, nil},
		{150 * time.Millisecond, 5000, []EventKind{EventViolation}},
		{160 * time.Millisecond, 5000, nil}, // still violated: no new event
		{170 * time.Millisecond, 500, []EventKind{EventViolation}},
		{20 * time.Millisecond, 500, []EventKind{EventRecovered}},
		{20 * time.Millisecond, 2000, []EventKind{EventRecovered}},
		{20 * time.Millisecond, 2000, nil},
	}
	for i, s := range steps {
		_, events := e.Window(opAt(s.avg, s.rate), running, time.Duration(i)*time.Second)
		var kinds []EventKind
		for _, ev := range events {
			kinds = append(kinds, ev.Kind)
		}
		if len(kinds) != len(s.want) || (len(kinds) > 0 && kinds[0] != s.want[0]) {
			t.Errorf("step %d: events %v, want %v", i, kinds, s.want)
		}
	}
}

func TestEvaluatorWaitsForWarmUp(t *testing.T) {
	e := NewEvaluator(Baselines{MaxAvgLatency: time.Millisecond, WarmUp: 2 * time.Second})
	v, ev := e.Window(opAt(time.Second, 1), map[string]time.Duration{"x": time.Second}, time.Second)
	if len(v) != 0 || len(ev) != 0 {
		t.Errorf("judged during warm-up: %v %v", v, ev)
	}
	v, ev = e.Window(opAt(time.Second, 1), map[string]time.Duration{}, 3*time.Second)
	if len(v) != 0 || len(ev) != 0 {
		t.Errorf("judged a suite that is not running: %v %v", v, ev)
	}
}

func TestViolationEventCarriesFigures(t *testing.T) {
	e := NewEvaluator(Baselines{MaxAvgLatency: 100 * time.Millisecond})
	_, ev := e.Window(opAt(132*time.Millisecond, 1), map[string]time.Duration{"x": time.Minute}, 31*time.Second)
	if len(ev) != 1 {
		t.Fatalf("got %d events, want 1", len(ev))
	}
	got := ev[0]
	if got.Op != "x.op" || got.Metric != MetricAvgLatency || got.Value != 132 || got.Limit != 100 || got.At != 31*time.Second {
		t.Errorf("event %+v", got)
	}
	if want := "violation: x.op avg latency 132ms ≥ 100ms"; got.Message != want {
		t.Errorf("message %q, want %q", got.Message, want)
	}
}

func TestFinalJudgesTotals(t *testing.T) {
	e := NewEvaluator(SeedBaselines())
	ops := []OpStats{
		{OpSpec: OpSpec{Name: "a.x", Suite: "a", Primary: true}, Total: Figures{Count: 1, OpsPerSec: 1500, Latency: Latency{Avg: 5 * time.Millisecond}}},
		{OpSpec: OpSpec{Name: "b.x", Suite: "b", Primary: true}, Total: Figures{Count: 1, OpsPerSec: 900, Latency: Latency{Avg: 200 * time.Millisecond}}},
		{OpSpec: OpSpec{Name: "b.phase", Suite: "b"}, Total: Figures{Count: 1, OpsPerSec: 900, Latency: Latency{Avg: time.Millisecond}}},
		{OpSpec: OpSpec{Name: "b.election", Suite: "b", NoBaseline: true}, Total: Figures{Count: 1, Latency: Latency{Avg: time.Second}}},
	}
	got := map[string]bool{}
	for _, v := range e.Final(ops) {
		got[v.Subject()+" "+v.Metric] = v.Pass
	}
	want := map[string]bool{
		"a.x avg_latency": true, "b.x avg_latency": false, "b.phase avg_latency": true,
		"a throughput": true, "b throughput": false, // b.phase is not primary: b stays at 900
	}
	if _, judged := got["b.election avg_latency"]; judged {
		t.Error("an op marked NoBaseline was judged on latency")
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: pass=%v (present %v), want %v", k, g, ok, w)
		}
	}
}

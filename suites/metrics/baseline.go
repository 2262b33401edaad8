package metrics

import (
	"fmt"
	"time"
)

// Baselines are the limits a run is judged against. A zero limit is off.
type Baselines struct {
	// MaxAvgLatency is the highest acceptable average latency of every op.
	MaxAvgLatency time.Duration
	// MaxP99Latency is the highest acceptable p99 latency of every op.
	MaxP99Latency time.Duration
	// MinThroughput is the lowest acceptable rate of a suite's primary ops,
	// in operations per second.
	MinThroughput float64
	// WarmUp is how long a suite runs before its window is judged, so
	// start-up transients raise no violation.
	WarmUp time.Duration
	// MinEfficiency is the lowest acceptable scalability efficiency, from 0
	// to 1 (1 is linear), at the scalability sweep's largest step.
	MinEfficiency float64
}

// SeedBaselines are the seed document's limits: average latency under
// 100 ms, over 1,000 ops/s per suite, judged after a 2 s warm-up.
func SeedBaselines() Baselines {
	return Baselines{MaxAvgLatency: 100 * time.Millisecond, MinThroughput: 1000, WarmUp: 2 * time.Second}
}

// Validate reports a limit that cannot be met by any run.
func (b Baselines) Validate() error {
	switch {
	case b.MaxAvgLatency < 0:
		return fmt.Errorf("baseline average latency must not be negative, got %v", b.MaxAvgLatency)
	case b.MaxP99Latency < 0:
		return fmt.Errorf("baseline p99 latency must not be negative, got %v", b.MaxP99Latency)
	case b.MinThroughput < 0:
		return fmt.Errorf("baseline throughput must not be negative, got %g", b.MinThroughput)
	case b.WarmUp < 0:
		return fmt.Errorf("baseline warm-up must not be negative, got %v", b.WarmUp)
	}
	return nil
}

// Metric names used in verdicts, events and reports.
const (
	MetricAvgLatency = "avg_latency"
	MetricP99Latency = "p99_latency"
	MetricThroughput = "throughput"
	MetricEfficiency = "efficiency" // scalability: X(N) / (N · X(1)) at the sweep's largest N
)

// Verdict is one baseline checked against one op's or suite's figures.
// Latencies are in milliseconds, throughput in ops/s.
type Verdict struct {
	Suite  string
	Op     string // empty for a suite-level metric such as throughput
	Metric string
	Limit  float64
	Value  float64
	Unit   string
	Pass   bool
}

// Subject is the op, or the suite when the verdict is suite-level.
func (v Verdict) Subject() string {
	if v.Op != "" {
		return v.Op
	}
	return v.Suite
}

// Describe says the verdict in words: "consensus.submit avg latency 1.2 ms < 100 ms".
func (v Verdict) Describe() string {
	rel := "<"
	switch v.Metric {
	case MetricThroughput:
		rel = ">"
	case MetricEfficiency:
		rel = "≥"
	}
	if !v.Pass {
		rel = map[string]string{"<": "≥", ">": "≤", "≥": "<"}[rel]
	}
	return fmt.Sprintf("%s %s %s %s %s", v.Subject(), metricLabel(v.Metric), formatValue(v.Value, v.Unit), rel, formatValue(v.Limit, v.Unit))
}

func metricLabel(m string) string {
	switch m {
	case MetricAvgLatency:
		return "avg latency"
	case MetricP99Latency:
		return "p99 latency"
	}
	return m
}

func formatValue(v float64, unit string) string {
	if unit == "of linear" {
		return fmt.Sprintf("%.2f", v)
	}
	if unit == "ms" {
		return FormatDuration(time.Duration(v * float64(time.Millisecond)))
	}
	return fmt.Sprintf("%s %s", FormatCount(v), unit)
}

// EventKind says what an event is about.
type EventKind string

// Event kinds.
const (
	EventViolation EventKind = "violation" // a baseline was crossed
	EventRecovered EventKind = "recovered" // a crossed baseline holds again
	EventInfo      EventKind = "info"      // suite started, cluster ready, …
	EventError     EventKind = "error"     // something failed: a control, a suite's check, the run
	// EventElection is a shard getting a new leader: "shard 2 leader → n3
	// in 94ms (term 5)".
	EventElection EventKind = "election"
	// EventMembership is a node joining or leaving the cluster.
	EventMembership EventKind = "membership"
	// EventFault is a fault injected or ended: kill-leader, crash,
	// restart, partition, heal, a change of network delay.
	EventFault EventKind = "fault"
	// EventEpoch is a live change opening an epoch: "epoch 3: clients=32".
	EventEpoch EventKind = "epoch"
)

// Event is something that happened during a run, at a time since its start.
type Event struct {
	At      time.Duration
	Kind    EventKind
	Message string
	// Set on violation and recovered events.
	Suite, Op, Metric string
	Value, Limit      float64
	Unit              string
}

// Evaluator judges each tick's window figures against the baselines and
// emits an event only when a verdict changes: one violation when a limit is
// crossed, one recovered when it holds again.
type Evaluator struct {
	b        Baselines
	violated map[string]bool // by verdict key
}

// NewEvaluator returns an evaluator for b.
func NewEvaluator(b Baselines) *Evaluator {
	return &Evaluator{b: b, violated: make(map[string]bool)}
}

// Window judges the window figures of the ops whose suite is running;
// running maps each running suite to how long it has run. Suites still
// warming up are not judged. It returns the current verdicts and the events
// of verdicts that changed.
func (e *Evaluator) Window(ops []OpStats, running map[string]time.Duration, at time.Duration) ([]Verdict, []Event) {
	var judged []OpStats
	for _, o := range ops {
		if ran, ok := running[o.Suite]; ok && ran >= e.b.WarmUp {
			judged = append(judged, o)
		}
	}
	verdicts := e.judge(judged, func(o OpStats) Figures { return o.Window })
	var events []Event
	for _, v := range verdicts {
		key := v.Suite + "|" + v.Op + "|" + v.Metric
		was := e.violated[key]
		if was == !v.Pass {
			continue
		}
		e.violated[key] = !v.Pass
		ev := Event{At: at, Kind: EventViolation, Suite: v.Suite, Op: v.Op, Metric: v.Metric, Value: v.Value, Limit: v.Limit, Unit: v.Unit}
		if v.Pass {
			ev.Kind = EventRecovered
		}
		ev.Message = string(ev.Kind) + ": " + v.Describe()
		events = append(events, ev)
	}
	return verdicts, events
}

// Final judges the whole-run figures of ops: the verdicts a report carries
// and the exit code follows.
func (e *Evaluator) Final(ops []OpStats) []Verdict {
	return e.judge(ops, func(o OpStats) Figures { return o.Total })
}

func (e *Evaluator) judge(ops []OpStats, fig func(OpStats) Figures) []Verdict {
	var out []Verdict
	type suiteRate struct {
		rate    float64
		counted bool
	}
	suites := map[string]*suiteRate{}
	var order []string
	for _, o := range ops {
		f := fig(o)
		if f.Count > 0 && !o.NoBaseline {
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			if lim := e.b.MaxAvgLatency; lim > 0 {
				out = append(out, Verdict{Suite: o.Suite, Op: o.Name, Metric: MetricAvgLatency, Limit: ms(lim), Value: ms(f.Latency.Avg), Unit: "ms", Pass: f.Latency.Avg < lim})
			}
			if lim := e.b.MaxP99Latency; lim > 0 {
				out = append(out, Verdict{Suite: o.Suite, Op: o.Name, Metric: MetricP99Latency, Limit: ms(lim), Value: ms(f.Latency.P99), Unit: "ms", Pass: f.Latency.P99 < lim})
			}
		}
		s, ok := suites[o.Suite]
		if !ok {
			s = &suiteRate{}
			suites[o.Suite] = s
			order = append(order, o.Suite)
		}
		if o.Primary {
			s.rate += f.OpsPerSec
			s.counted = true
		}
	}
	if lim := e.b.MinThroughput; lim > 0 {
		for _, name := range order {
			if s := suites[name]; s.counted {
				out = append(out, Verdict{Suite: name, Metric: MetricThroughput, Limit: lim, Value: s.rate, Unit: "ops/s", Pass: s.rate > lim})
			}
		}
	}
	return out
}

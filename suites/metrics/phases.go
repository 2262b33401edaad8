package metrics

import (
	"fmt"
	"sort"
)

// Phases: where an op's time goes.
//
// A phase is a timed part of an op — a put's wait in a batch, its leader's
// log append, its replication, its apply. A suite declares each phase as
// an op of its own (OpSpec.PhaseOf names the op it is part of, Phase its
// short name) and records it like any op, in the same recorder, so phases
// get HDR histograms, ticks, windows and totals for free and cost no
// allocation. The collector folds a phase into its op's OpStats.Phases;
// only a phase marked Listed also stays an op of its own (the txn suite's
// prepare, decide and commit, which reports have always listed).

// PhaseStats are one phase's figures at a tick, beside its op's.
type PhaseStats struct {
	Name   string // the phase's short name, e.g. "replicate"
	Op     string // the phase's own op name, e.g. "consensus.submit.replicate"
	Window Figures
	Total  Figures
}

// PhaseShare is the share of an op's time that went to one of its
// phases: the phase's total time (its average times its count; a phase
// need not happen in every op) over the op's. Zero when the op has no time.
func PhaseShare(phase, op Figures) float64 {
	opTime := float64(op.Latency.Avg) * float64(op.Count)
	if opTime <= 0 {
		return 0
	}
	return float64(phase.Latency.Avg) * float64(phase.Count) / opTime
}

// phaseParents returns, for each op, the index of the op it is a phase of,
// or -1; an error when a phase names an op that is not there, or one that
// is itself a phase of the same op.
func phaseParents(ops []OpSpec) ([]int, error) {
	at := make(map[string]int, len(ops))
	for i, o := range ops {
		at[o.Name] = i
	}
	parents := make([]int, len(ops))
	for i, o := range ops {
		parents[i] = -1
		if o.PhaseOf == "" {
			continue
		}
		p, ok := at[o.PhaseOf]
		if !ok || p == i {
			return nil, fmt.Errorf("metrics: op %q is a phase of %q, which is no other op", o.Name, o.PhaseOf)
		}
		if o.Phase == "" {
			return nil, fmt.Errorf("metrics: op %q is a phase of %q with no phase name", o.Name, o.PhaseOf)
		}
		parents[i] = p
	}
	return parents, nil
}

// foldPhases moves the phases in stats (one per op index, nil when the op
// has nothing to show) into their ops' Phases, in the order of the ops,
// and returns the ops to list: every op that is not a phase, and the phases
// marked Listed.
//
// A phase with no sample in the run is left out of its op's breakdown: a
// phase recorded as 0 happened and took no time (a put that waited in no
// batch), one never recorded does not happen in this run at all — the hop
// between the controller and a node process, in embedded mode — and a row
// of zeros for it would only be noise.
func foldPhases(ops []OpSpec, parents []int, stats []*OpStats) []OpStats {
	for i, st := range stats {
		if st == nil || parents[i] < 0 || st.Total.Count == 0 {
			continue
		}
		if p := stats[parents[i]]; p != nil {
			p.Phases = append(p.Phases, PhaseStats{Name: ops[i].Phase, Op: ops[i].Name, Window: st.Window, Total: st.Total})
		}
	}
	var out []OpStats
	for i, st := range stats {
		if st == nil || (parents[i] >= 0 && !ops[i].Listed) {
			continue
		}
		out = append(out, *st)
	}
	return out
}

// PhaseReport is one phase of an op over the whole run: its count, its
// latency like the op's, and its average's share of the op's average.
type PhaseReport struct {
	Order     int       `json:"order"` // the phase's place in its op, from 0
	Count     uint64    `json:"count"`
	LatencyMs LatencyMs `json:"latency_ms"`
	Share     float64   `json:"share"`
}

// phaseReports makes an OpReport's phases from o's; nil when it has none.
func phaseReports(o OpStats) map[string]PhaseReport {
	if len(o.Phases) == 0 {
		return nil
	}
	m := make(map[string]PhaseReport, len(o.Phases))
	for i, p := range o.Phases {
		m[p.Name] = PhaseReport{Order: i, Count: p.Total.Count, LatencyMs: latencyMs(p.Total.Latency),
			Share: PhaseShare(p.Total, o.Total)}
	}
	return m
}

// namedPhase is a phase of a report's op, with its name.
type namedPhase struct {
	Name string
	PhaseReport
}

// sortedPhases returns o's phases in their order.
func sortedPhases(o OpReport) []namedPhase {
	out := make([]namedPhase, 0, len(o.Phases))
	for n, p := range o.Phases {
		out = append(out, namedPhase{n, p})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// phaseRest is the part of an op's average latency in none of its phases;
// zero when the phases cover it all (averages of different counts can
// overshoot).
func phaseRest(o OpReport) float64 {
	sum := 0.0
	for _, p := range o.Phases {
		sum += p.LatencyMs.Avg * float64(p.Count)
	}
	if o.Count == 0 {
		return 0
	}
	return max(o.LatencyMs.Avg-sum/float64(o.Count), 0)
}

// writePhasesMarkdown renders, under the individual metrics, where each op
// with phases spent its time: a row per phase and one for the rest.
func writePhasesMarkdown(p printf, r *Report) {
	started := false
	for _, o := range sortedOps(r) {
		if len(o.Phases) == 0 {
			continue
		}
		if !started {
			p("\n### Where the time goes\n\n")
			p("Each op's latency split into the phases the core times; *line* and *wire*, when the nodes run as processes of their own, are each call's time between phantom and the node: its wait in phantom's line to the node, then the rest (gRPC, the network); *other* is the rest (the client, retries, what no phase covers).\n\n")
			p("| op | phase | count | avg | p50 | p99 | share |\n|---|---|--:|--:|--:|--:|--:|\n")
			started = true
		}
		for _, ph := range sortedPhases(o.OpReport) {
			l := ph.LatencyMs
			p("| %s | %s | %s | %s | %s | %s | %.0f%% |\n", o.Name, ph.Name, FormatCount(float64(ph.Count)), msText(l.Avg), msText(l.P50), msText(l.P99), 100*ph.Share)
		}
		if rest := phaseRest(o.OpReport); o.LatencyMs.Avg > 0 {
			p("| %s | *other* | | %s | | | %.0f%% |\n", o.Name, msText(rest), 100*rest/o.LatencyMs.Avg)
		}
	}
}

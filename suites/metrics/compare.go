package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
)

// Delta is one op compared between a baseline report A and a candidate B.
// Changes are relative, B against A: +0.10 is 10% more.
type Delta struct {
	Suite, Op  string
	A, B       OpReport
	InA, InB   bool
	Throughput float64 // relative change in ops/s
	Avg        float64 // relative change in average latency
	P99        float64 // relative change in p99 latency
	// Regressed is set when B is worse than A by more than the threshold:
	// less throughput, or a higher average or p99 latency.
	Regressed bool
}

// Compare lines up every op of a and b. threshold is the relative change
// that counts as a regression (0.1 for 10%).
func Compare(a, b *Report, threshold float64) []Delta {
	type key struct{ suite, op string }
	seen := map[key]*Delta{}
	var keys []key
	add := func(r *Report, inA bool) {
		for s, sr := range r.Suites {
			for op, o := range sr.Ops {
				k := key{s, op}
				d, ok := seen[k]
				if !ok {
					d = &Delta{Suite: s, Op: op}
					seen[k] = d
					keys = append(keys, k)
				}
				if inA {
					d.A, d.InA = o, true
				} else {
					d.B, d.InB = o, true
				}
			}
		}
	}
	add(a, true)
	add(b, false)
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].suite != keys[j].suite {
			return keys[i].suite < keys[j].suite
		}
		return keys[i].op < keys[j].op
	})
	out := make([]Delta, 0, len(keys))
	for _, k := range keys {
		d := seen[k]
		if d.InA && d.InB {
			d.Throughput = change(d.A.OpsPerSec, d.B.OpsPerSec)
			d.Avg = change(d.A.LatencyMs.Avg, d.B.LatencyMs.Avg)
			d.P99 = change(d.A.LatencyMs.P99, d.B.LatencyMs.P99)
			d.Regressed = d.Throughput < -threshold || d.Avg > threshold || d.P99 > threshold
		}
		out = append(out, *d)
	}
	return out
}

// change is (b-a)/a; zero when both are zero, +Inf when only a is.
func change(a, b float64) float64 {
	switch {
	case a == b:
		return 0
	case a == 0:
		return math.Inf(1)
	}
	return (b - a) / a
}

// WriteComparison prints the deltas as a table, marking regressions.
func WriteComparison(w io.Writer, deltas []Delta, threshold float64) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "op\tops/s A\tops/s B\tΔ\tavg A\tavg B\tΔ\tp99 A\tp99 B\tΔ\t")
	regressions := 0
	for _, d := range deltas {
		switch {
		case !d.InB:
			fmt.Fprintf(tw, "%s\t%s\t—\t\t%s\t—\t\t%s\t—\t\tonly in A\n", d.Op, FormatCount(d.A.OpsPerSec), msText(d.A.LatencyMs.Avg), msText(d.A.LatencyMs.P99))
			continue
		case !d.InA:
			fmt.Fprintf(tw, "%s\t—\t%s\t\t—\t%s\t\t—\t%s\t\tonly in B\n", d.Op, FormatCount(d.B.OpsPerSec), msText(d.B.LatencyMs.Avg), msText(d.B.LatencyMs.P99))
			continue
		}
		mark := ""
		if d.Regressed {
			mark = "REGRESSED"
			regressions++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Op,
			FormatCount(d.A.OpsPerSec), FormatCount(d.B.OpsPerSec), pct(d.Throughput),
			msText(d.A.LatencyMs.Avg), msText(d.B.LatencyMs.Avg), pct(d.Avg),
			msText(d.A.LatencyMs.P99), msText(d.B.LatencyMs.P99), pct(d.P99), mark)
	}
	tw.Flush()
	if regressions == 0 {
		fmt.Fprintf(ew, "\nno op regressed by more than %.0f%%\n", threshold*100)
	} else {
		fmt.Fprintf(ew, "\n%d op(s) regressed by more than %.0f%%\n", regressions, threshold*100)
	}
	return ew.err
}

func pct(v float64) string {
	if math.IsInf(v, 0) {
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", v*100)
}

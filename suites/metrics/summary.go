package metrics

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary writes the human-readable end-of-run summary: the per-op
// table, every baseline's verdict, violations, resources and the outcome.
func WriteSummary(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\terrors\tops/s\tavg\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, o := range sortedOps(r) {
		l := o.LatencyMs
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", o.Name, FormatCount(float64(o.Count)), FormatCount(float64(o.Errors)),
			FormatCount(o.OpsPerSec), msText(l.Avg), msText(l.P50), msText(l.P90), msText(l.P99), msText(l.P999), msText(l.Max))
	}
	tw.Flush()
	if r.Load.Model == "open" {
		fmt.Fprintf(ew, "\nopen loop at %s ops/s: latency counts from each op's intended start; %s iterations started late, at most %s behind\n",
			FormatCount(r.Load.TargetOpsPerSec), FormatCount(float64(r.Load.Late)), msText(r.Load.MaxLagMs))
		for _, o := range sortedOps(r) {
			if s := o.ServiceLatencyMs; s != nil {
				fmt.Fprintf(ew, "  service time %s: avg %s p50 %s p99 %s max %s\n", o.Name, msText(s.Avg), msText(s.P50), msText(s.P99), msText(s.Max))
			}
		}
	}

	writeErrorSamples(ew, r)
	writeInFlight(ew, r)
	writeElections(ew, r)

	if sc := r.Scalability; sc != nil {
		sweeps := sc.Sweeps
		if len(sweeps) == 0 { // a report from before the node sweep
			sweeps = []SweepReport{{Kind: SweepClients, Points: sc.Points, Fit: sc.Fit, FitError: sc.FitError}}
		}
		for _, sw := range sweeps {
			fmt.Fprintf(ew, "\nscalability %s:", sw.Kind)
			full := 0
			for _, p := range sw.Points {
				full = max(full, p.Replicas)
			}
			for _, p := range sw.Points {
				if p.Empty {
					fmt.Fprintf(ew, " %d→nothing measured", p.N)
					continue
				}
				extra := ""
				if p.Replicas > 0 && p.Replicas < full {
					extra += fmt.Sprintf(", %d %s", p.Replicas, map[bool]string{true: "replica", false: "replicas"}[p.Replicas == 1])
				}
				if p.BoundBy != "" {
					extra += ", " + p.BoundBy
				}
				fmt.Fprintf(ew, " %d→%s ops/s (%.2f%s)", p.N, FormatCount(p.OpsPerSec), p.Efficiency, extra)
			}
			if f := sw.Fit; f != nil {
				fmt.Fprintf(ew, "\n            USL σ=%.4f κ=%.5f R²=%.3f", f.Sigma, f.Kappa, f.R2)
				if f.PeakN != nil {
					fmt.Fprintf(ew, ", peak at %.1f %s", *f.PeakN, sw.Kind)
				}
			} else {
				fmt.Fprintf(ew, "\n            no USL fit: %s", sw.FitError)
			}
			if sw.Bound != "" {
				fmt.Fprintf(ew, "\n            %s", sw.Bound)
			}
			if t := sweepLoad(sw); t != "" {
				fmt.Fprintf(ew, "\n            %s", t)
			}
			for _, n := range sw.Notes {
				fmt.Fprintf(ew, "\n            note: %s", n)
			}
			fmt.Fprintln(ew)
		}
	}

	if len(r.Baselines) > 0 {
		fmt.Fprintln(ew, "\nbaselines")
		for _, b := range r.Baselines {
			mark := "PASS"
			if !b.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(ew, "  %s  %s\n", mark, Verdict(b).Describe())
		}
	}
	if n := len(r.Violations); n > 0 {
		v := r.Violations[0]
		fmt.Fprintf(ew, "\nviolations: %d during the run; first at %.1fs: %s\n", n, v.AtSeconds, strings.TrimPrefix(v.Message, "violation: "))
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(ew, "\nchecks     %s\n", ChecksLine(r.Checks))
		for _, c := range r.Checks {
			fmt.Fprintf(ew, "  %-8s  %s\n", strings.ToUpper(string(c.Verdict)), c)
		}
	}
	fmt.Fprintf(ew, "\nresources  %s\n", resourcesLine(r.Resources))

	fmt.Fprintf(ew, "result     %s after %.1fs of load\n", r.Outcome(": "), r.ElapsedSeconds)
	return ew.err
}

func resourcesLine(res ResourcesReport) string {
	pct := func(s *StatReport) string {
		if s == nil {
			return "n/a"
		}
		return fmt.Sprintf("avg %.0f%% max %.0f%%", s.Avg, s.Max)
	}
	bytes := func(s *StatReport, unit string) string {
		if s == nil {
			return "n/a"
		}
		return fmt.Sprintf("avg %s%s max %s%s", FormatBytes(s.Avg), unit, FormatBytes(s.Max), unit)
	}
	return strings.Join([]string{
		"cpu " + pct(res.CPU.MachinePercent),
		"phantom cpu " + pct(res.CPU.ProcessPercent),
		"rss " + bytes(res.Memory.RSSBytes, ""),
		"net rx " + bytes(res.Network.RxBytesPerSec, "/s"),
		"tx " + bytes(res.Network.TxBytesPerSec, "/s"),
		"disk r " + bytes(res.Disk.ReadBytesPerSec, "/s"),
		"w " + bytes(res.Disk.WriteBytesPerSec, "/s"),
	}, " · ")
}

// errWriter keeps the first write error so a summary's many Fprintf calls
// need one check.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// Outcome says how the run ended, in one line: "PASS<sep>every baseline
// held", "FAIL<sep>…" or "FAILED<sep>why", marked when interrupted or
// taken mid-run.
func (r *Report) Outcome(sep string) string {
	outcome := "PASS" + sep + "every baseline held"
	switch {
	case r.ChecksFailed():
		outcome = "FAIL" + sep + "a correctness check failed"
	case r.Error != "":
		outcome = "FAILED" + sep + r.Error
	case !r.Passed():
		outcome = "FAIL" + sep + "a baseline was violated"
	}
	switch {
	case r.Interrupted:
		outcome += " (interrupted: partial run)"
	case r.Partial:
		outcome += " (so far: the run is still going)"
	}
	return outcome
}

// writeErrorSamples says, for each op that failed, what its errors of
// each kind said: a count of errors alone does not tell a user whether the
// cluster lost a leader or refused the request.
func writeErrorSamples(w io.Writer, r *Report) {
	for i, e := range errorSamples(r) {
		if i == 0 {
			fmt.Fprintln(w, "\nerrors, one of each kind:")
		}
		fmt.Fprintf(w, "  %s %s (%s): %s\n", e.op, e.kind, FormatCount(float64(e.count)), e.text)
	}
}

// errorSample is one kind of an op's errors as the reports write it: its
// count and its text's first line, cut to sampleRunes.
type errorSample struct {
	op, kind, text string
	count          uint64
}

// sampleRunes is how much of an error's text the summary and the
// Markdown report give; the JSON report keeps what the collector kept.
const sampleRunes = 200

// errorSamples are every op's error samples, by suite, op and kind.
func errorSamples(r *Report) []errorSample {
	var out []errorSample
	for _, o := range sortedOps(r) {
		for _, k := range slices.Sorted(maps.Keys(o.ErrorSamples)) {
			out = append(out, errorSample{op: o.Name, kind: k, count: o.ErrorsByKind[k], text: FirstLine(o.ErrorSamples[k], sampleRunes)})
		}
	}
	return out
}

// FirstLine is s's first line, cut to at most n runes with an ellipsis.
func FirstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// writeInFlight says which suites ended with iterations stuck for longer
// than StallAfter: their ops are in no figure above, so the summary names
// them.
func writeInFlight(w io.Writer, r *Report) {
	names := make([]string, 0, len(r.Suites))
	for name := range r.Suites {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := r.Suites[name]
		if s.InFlightAtEnd == nil || s.OldestInFlightMs == nil || *s.OldestInFlightMs < float64(StallAfter/time.Millisecond) {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d iterations still in flight when the suite ended, the oldest for %s; their ops are in no figure above\n",
			name, *s.InFlightAtEnd, msText(*s.OldestInFlightMs))
	}
}

// writeElections writes the run's leader elections, caused by the run and
// spontaneous, and each suite's; nothing for a report without them.
func writeElections(w io.Writer, r *Report) {
	if r.Elections == nil {
		return
	}
	fmt.Fprintf(w, "\nelections  run: %s", r.Elections)
	for _, name := range sortedSuites(r) {
		if e := r.Suites[name].Elections; e != nil {
			fmt.Fprintf(w, " · %s: %s", name, e)
		}
	}
	fmt.Fprintln(w)
}

package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// printf writes one formatted piece of a report.
type printf func(format string, a ...any)

// WriteMarkdown renders the report in the seed document's four result
// sections — individual metrics, comparison against baselines, resource
// utilisation, scalability — with where each op's time went and the
// leader elections, then the correctness checks, violations and events.
// Each section is a function of its own, in the order they print.
func WriteMarkdown(w io.Writer, r *Report) error { return writeMarkdown(w, r, nil) }

// writeMarkdown writes the report, with links to its charts when
// charts is not nil: each section's under it.
func writeMarkdown(w io.Writer, r *Report, charts *mdCharts) error {
	ew := &errWriter{w: w}
	p := printf(func(format string, a ...any) { fmt.Fprintf(ew, format, a...) })

	p("# phantom report\n\n")
	p("**Result:** %s  \n", mdEscape(r.Outcome(" — ")))
	p("**Started:** %s · **ended:** %s · **load measured:** %.1f s  \n", r.StartedAt.UTC().Format(time.RFC3339), r.EndedAt.UTC().Format(time.RFC3339), r.ElapsedSeconds)
	if s := settingsLine(r.Settings); s != "" {
		p("**Settings:** %s\n", mdEscape(s))
	}

	for _, section := range []func(printf, *Report){
		mdOps, charts.ops, writePhasesMarkdown, mdBaselines, mdResources, charts.resources, mdElections, mdScalability, charts.scaling, mdChecks, mdViolations, mdEvents,
	} {
		section(p, r)
	}
	return ew.err
}

// mdOps is the seed's first section: every op's figures.
func mdOps(p printf, r *Report) {
	p("\n## 1. Individual test performance metrics\n\n")
	p("| suite | op | count | errors | ops/s | avg | p50 | p90 | p99 | p99.9 | max |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, o := range sortedOps(r) {
		l := o.LatencyMs
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", o.Suite, o.Name, FormatCount(float64(o.Count)), FormatCount(float64(o.Errors)),
			FormatCount(o.OpsPerSec), msText(l.Avg), msText(l.P50), msText(l.P90), msText(l.P99), msText(l.P999), msText(l.Max))
	}
	for i, e := range errorSamples(r) {
		if i == 0 {
			p("\nErrors, one of each kind:\n\n")
		}
		p("- %s, %s (%s): `%s`\n", e.op, e.kind, FormatCount(float64(e.count)), strings.ReplaceAll(e.text, "`", "'"))
	}
}

// mdBaselines is the second: each baseline and its verdict.
func mdBaselines(p printf, r *Report) {
	p("\n## 2. Comparison against baselines\n\n")
	if len(r.Baselines) == 0 {
		p("No baseline was set.\n")
	} else {
		p("| subject | metric | limit | value | result |\n|---|---|--:|--:|---|\n")
		for _, b := range r.Baselines {
			v := Verdict(b)
			res := "PASS"
			if !b.Pass {
				res = "**FAIL**"
			}
			rel := "<"
			if b.Metric == MetricThroughput {
				rel = ">"
			}
			p("| %s | %s | %s %s | %s | %s |\n", v.Subject(), metricLabel(b.Metric), rel, formatValue(b.Limit, b.Unit), formatValue(b.Value, b.Unit), res)
		}
	}
}

// mdResources is the third: what the run used of the machine.
func mdResources(p printf, r *Report) {
	p("\n## 3. Resource utilisation\n\n")
	p("| resource | avg | max |\n|---|--:|--:|\n")
	for _, row := range resourceRows(r) {
		p("| %s | %s | %s |\n", row.name, statText(row.s, row.unit, false), statText(row.s, row.unit, true))
	}
	mdNodes(p, r)
}

// mdNodes lists the node processes, with what each used and its log,
// when the nodes ran as processes (or were joined); the embedded
// cluster's nodes with their network, the one figure of their own.
func mdNodes(p printf, r *Report) {
	c := r.Cluster
	if len(c.NodeLogs) == 0 {
		mdEmbeddedNodes(p, c)
		return
	}
	use := map[string]NodeResourceReport{}
	for _, n := range c.NodeResources {
		use[n.ID] = n
	}
	quota := false
	for _, n := range c.NodeResources {
		quota = quota || n.QuotaCPUs > 0
	}
	if c.Emulated {
		p("\nEmulated: the nodes shared this machine, each process under a CPU quota (%s).\n", mdEscape(c.CPUQuota))
	}
	p("\nThe nodes ran as processes (cluster %s):\n\n", mdEscape(c.Mode))
	if quota {
		p("| node | pid | CPU avg | CPU max | CPU quota | throttled avg | throttled max | RSS avg | RSS max | net in/out avg | disk read/write avg | log |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	} else {
		p("| node | pid | CPU avg | CPU max | RSS avg | RSS max | net in/out avg | disk read/write avg | log |\n|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
	}
	for _, n := range c.NodeLogs {
		cpuAvg, cpuMax, rssAvg, rssMax, q, thrAvg, thrMax := "–", "–", "–", "–", "–", "–", "–"
		netAvg, diskAvg := "–", "–"
		if u, ok := use[n.ID]; ok && u.PID == n.PID {
			if u.NetSamples > 0 {
				netAvg = FormatBytes(u.NetRecvAvgBytesPerSec) + "/s / " + FormatBytes(u.NetSentAvgBytesPerSec) + "/s"
			}
			if u.DiskSamples > 0 {
				diskAvg = FormatBytes(u.DiskReadAvgBytesPerSec) + "/s / " + FormatBytes(u.DiskWriteAvgBytesPerSec) + "/s"
			}
			if u.CPUSamples > 0 {
				cpuAvg, cpuMax = fmt.Sprintf("%.0f%%", u.CPUAvgPercent), fmt.Sprintf("%.0f%%", u.CPUMaxPercent)
			}
			rssAvg, rssMax = FormatBytes(float64(u.RSSAvgBytes)), FormatBytes(float64(u.RSSMaxBytes))
			if u.QuotaCPUs > 0 {
				q = fmt.Sprintf("%.0f%%", u.QuotaCPUs*100)
			}
			if u.ThrottledSamples > 0 {
				thrAvg, thrMax = fmt.Sprintf("%.0f%%", u.ThrottledAvgPercent), fmt.Sprintf("%.0f%%", u.ThrottledMaxPercent)
			}
		}
		if quota {
			p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n.ID, n.PID, cpuAvg, cpuMax, q, thrAvg, thrMax, rssAvg, rssMax, netAvg, diskAvg, mdEscape(n.Log))
		} else {
			p("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", n.ID, n.PID, cpuAvg, cpuMax, rssAvg, rssMax, netAvg, diskAvg, mdEscape(n.Log))
		}
	}
	if quota {
		p("\nCPU is in percent of one core; the quota likewise. Throttled is, of the 100 ms periods in which a node wanted CPU, the share in which it had used its quota and waited.\n")
	}
	if len(c.NodeExits) > 0 {
		p("\nNode processes that exited on their own (not faults the run made; the cluster took each for a crash):\n\n| node | pid | at | how | log |\n|---|--:|--:|---|---|\n")
		for _, e := range c.NodeExits {
			p("| %s | %d | %.1fs | %s | %s |\n", e.ID, e.PID, e.AtS, mdEscape(e.Reason), mdEscape(e.Log))
		}
	}
}

// mdElections counts the leader elections, caused and spontaneous.
func mdElections(p printf, r *Report) {
	if e := r.Elections; e != nil {
		p("\nLeader elections (caused: after a fault or membership change the run made, on its shard; spontaneous: the rest):\n\n| scope | caused | spontaneous | spontaneous per minute |\n|---|--:|--:|--:|\n")
		p("| run | %d | %d | %.1f |\n", e.Caused, e.Spontaneous, e.PerMinuteSpontaneous)
		for _, name := range sortedSuites(r) {
			if e := r.Suites[name].Elections; e != nil {
				p("| %s | %d | %d | %.1f |\n", name, e.Caused, e.Spontaneous, e.PerMinuteSpontaneous)
			}
		}
	}
}

// mdScalability is the fourth: every sweep, its efficiency and USL fit.
func mdScalability(p printf, r *Report) {
	p("\n## 4. Scalability validation\n\n")
	if sc := r.Scalability; sc == nil {
		p("Not measured: the scalability suite did not run in this report.\n")
	} else {
		sweeps := sc.Sweeps
		if len(sweeps) == 0 { // a report from before the node sweep
			sweeps = []SweepReport{{Kind: SweepClients, Points: sc.Points, Fit: sc.Fit, FitError: sc.FitError}}
		}
		for i, sw := range sweeps {
			if i > 0 {
				p("\n")
			}
			head, rows := sweepTable(sw)
			p("### %s\n\n| %s |\n|%s\n", sweepTitle(sw.Kind), strings.Join(head, " | "), strings.Repeat("--:|", len(head)))
			for _, r := range rows {
				p("| %s |\n", strings.Join(r, " | "))
			}
			if t := sweepLoad(sw); t != "" {
				p("\n%s.\n", strings.ToUpper(t[:1])+t[1:])
			}
			if f := sw.Fit; f != nil {
				peak := "never (κ ≤ 0)"
				if f.PeakN != nil {
					peak = fmt.Sprintf("%.1f %s, %s ops/s", *f.PeakN, sw.Kind, FormatCount(f.PeakOpsPerSec))
				}
				p("\nUSL fit: σ = %.4f (contention), κ = %.5f (coherency), λ = %s ops/s per %s, R² = %.3f; predicted peak: %s.\n",
					f.Sigma, f.Kappa, FormatCount(f.Lambda), strings.TrimSuffix(sw.Kind, "s"), f.R2, peak)
			} else {
				p("\nNo USL fit: %s.\n", mdEscape(sw.FitError))
			}
			if sw.Bound != "" {
				p("\n%s.\n", strings.ToUpper(sw.Bound[:1])+sw.Bound[1:])
			}
			for _, n := range sw.Notes {
				p("\nNote: %s.\n", mdEscape(n))
			}
		}
	}
}

// mdChecks lists the correctness checks and their verdicts.
func mdChecks(p printf, r *Report) {
	p("\n## Correctness checks\n\n")
	if len(r.Checks) == 0 {
		p("None ran.\n")
	} else {
		p("| suite | check | verdict | ops | keys | seconds | detail |\n|---|---|---|--:|--:|--:|---|\n")
		for _, c := range r.Checks {
			verdict := string(c.Verdict)
			if c.Failed() {
				verdict = "**" + verdict + "**"
			}
			p("| %s | %s | %s | %s | %s | %.1f | %s |\n", c.Suite, c.Name, verdict, FormatCount(float64(c.Ops)), FormatCount(float64(c.Keys)), c.Seconds, mdEscape(c.Detail))
		}
	}
}

// mdViolations lists every baseline violation raised during the run.
func mdViolations(p printf, r *Report) {
	p("\n## Violations\n\n")
	if len(r.Violations) == 0 {
		p("None.\n")
	} else {
		p("| at | subject | metric | value | limit |\n|--:|---|---|--:|--:|\n")
		for _, v := range r.Violations {
			subject := v.Op
			if subject == "" {
				subject = v.Suite
			}
			p("| %.1f s | %s | %s | %s | %s |\n", v.AtSeconds, subject, metricLabel(v.Metric), formatValue(v.Value, v.Unit), formatValue(v.Limit, v.Unit))
		}
	}
}

// mdEvents lists everything that happened.
func mdEvents(p printf, r *Report) {
	p("\n## Events\n\n")
	if len(r.Events) == 0 {
		p("None.\n")
	}
	for _, e := range r.Events {
		p("- %.1f s · %s · %s\n", e.AtSeconds, e.Kind, mdEscape(e.Message))
	}
}

func msText(ms float64) string { return FormatDuration(time.Duration(ms * float64(time.Millisecond))) }

func statText(s *StatReport, unit string, maximum bool) string {
	if s == nil {
		return "n/a"
	}
	v := s.Avg
	if maximum {
		v = s.Max
	}
	switch unit {
	case "%":
		return fmt.Sprintf("%.0f%%", v)
	case "B/s":
		return FormatBytes(v) + "/s"
	}
	return FormatBytes(v)
}

// settingsLine lists the report's scalar settings as key=value, sorted.
func settingsLine(settings any) string {
	b, err := json.Marshal(settings)
	if err != nil {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch v := m[k].(type) {
		case map[string]any:
			continue
		case []any:
			var items []string
			for _, it := range v {
				items = append(items, fmt.Sprint(it))
			}
			parts = append(parts, k+"="+strings.Join(items, ","))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " · ")
}

// mdEscape keeps text from breaking a table or turning into markup.
func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "*", "\\*", "_", "\\_", "\n", " ").Replace(s)
}

// sweepTable is a sweep's steps as a table's head and rows: the node
// sweep's replicas, nodes' CPU, idle nodes' CPU and what bound each step
// only when some step has them (embedded nodes, old reports have none).
func sweepTable(sw SweepReport) (head []string, rows [][]string) {
	var reps, nodes, idle, by bool
	for _, pt := range sw.Points {
		reps = reps || pt.Replicas > 0
		nodes = nodes || pt.NodesCPUs > 0
		idle = idle || pt.IdleNodesCPUs > 0
		by = by || pt.BoundBy != ""
	}
	head = []string{sw.Kind}
	if reps {
		head = append(head, "replicas")
	}
	head = append(head, "ops/s", "efficiency vs linear", "machine CPU")
	if nodes {
		// Throughput per CPU the nodes used: what a step got for the CPU
		// it had, which a step the machine starved still says rightly.
		head = append(head, "nodes' CPUs", "ops per node CPU-second")
	}
	if idle {
		head = append(head, "idle run nodes' CPUs")
	}
	if by {
		head = append(head, "bound by")
	}
	for _, pt := range sw.Points {
		r := []string{strconv.Itoa(pt.N)}
		if reps {
			r = append(r, orDash(pt.Replicas > 0, strconv.Itoa(pt.Replicas)))
		}
		if pt.Empty {
			r = append(r, "nothing measured", "–")
		} else {
			r = append(r, FormatCount(pt.OpsPerSec), fmt.Sprintf("%.2f", pt.Efficiency))
		}
		cpu := "n/a"
		if pt.CPUPercent > 0 {
			cpu = fmt.Sprintf("%.0f%%", pt.CPUPercent)
		}
		r = append(r, cpu)
		if nodes {
			c := orDash(pt.NodesCPUs > 0, fmt.Sprintf("%.2f", pt.NodesCPUs))
			if pt.QuotaUsePercent > 0 {
				c += fmt.Sprintf(" (%.0f%% of quota)", pt.QuotaUsePercent)
			}
			r = append(r, c, orDash(pt.NodesCPUs > 0 && !pt.Empty, FormatCount(pt.OpsPerSec/pt.NodesCPUs)))
		}
		if idle {
			r = append(r, orDash(pt.IdleNodesCPUs > 0, fmt.Sprintf("%.3f", pt.IdleNodesCPUs)))
		}
		if by {
			r = append(r, orDash(pt.BoundBy != "", pt.BoundBy))
		}
		rows = append(rows, r)
	}
	return head, rows
}

// sweepLoad says what each node of a sweep had: its clients and its CPU
// quota; "" when neither was recorded.
func sweepLoad(sw SweepReport) string {
	var parts []string
	if sw.ClientsPerNode > 0 {
		noun := "clients"
		if sw.ClientsPerNode == 1 {
			noun = "client"
		}
		parts = append(parts, fmt.Sprintf("%d %s per node at every step", sw.ClientsPerNode, noun))
	}
	if sw.NodeCPUs > 0 {
		parts = append(parts, fmt.Sprintf("each node process under a CPU quota of %v CPUs", sw.NodeCPUs))
	}
	return strings.Join(parts, ", ")
}

// orDash is s when ok, else "–".
func orDash(ok bool, s string) string {
	if ok {
		return s
	}
	return "–"
}

// sweepTitle names a sweep for a heading.
func sweepTitle(kind string) string {
	switch kind {
	case SweepNodes:
		return "Horizontal: nodes (shards follow, load per node constant)"
	case SweepClients:
		return "Vertical: clients"
	}
	return kind
}

// mdEmbeddedNodes lists the network of each node that ran inside
// phantom's process: its Raft bytes, which the embedded cluster counts per
// node. Their CPU and memory are phantom's, shared, so the table has none.
func mdEmbeddedNodes(p printf, c ClusterReport) {
	head := false
	for _, n := range c.NodeResources {
		if n.NetSamples == 0 || n.PID != 0 {
			continue
		}
		if !head {
			p("\nThe nodes ran inside phantom's process (cluster %s): each node's Raft traffic, as the cluster's network counts it; their CPU and memory are phantom's.\n\n| node | net in avg | net in max | net out avg | net out max |\n|---|--:|--:|--:|--:|\n", mdEscape(c.Mode))
			head = true
		}
		p("| %s | %s/s | %s/s | %s/s | %s/s |\n", n.ID, FormatBytes(n.NetRecvAvgBytesPerSec), FormatBytes(n.NetRecvMaxBytesPerSec),
			FormatBytes(n.NetSentAvgBytesPerSec), FormatBytes(n.NetSentMaxBytesPerSec))
	}
}

package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WriteHTML writes r as one self-contained HTML page: the verdict first,
// then every op's charts (throughput and latency over time with the epochs
// shaded and faults, elections and violations marked; its latency
// spectrum), resources over time, the scalability sweeps, baselines,
// checks, settings, epochs and events. No script, no external reference:
// inline CSS and SVG only, so it opens offline from a mail attachment.
//
// The page is a function of the report's JSON alone: r is rendered as it
// reads back from its JSON, so `phantom report` on the saved JSON writes
// the same bytes as --html did for the run.
func WriteHTML(w io.Writer, r *Report) error {
	rr, err := viaJSON(r)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	writeHTML(&b, rr)
	_, err = w.Write(b.Bytes())
	return err
}

// viaJSON returns r as it reads back from its JSON report.
func viaJSON(r *Report) (*Report, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var out Report
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExitCode is the exit code phantom gives a run that ended as r says: 4
// a correctness check failed, 3 the run failed, 130 interrupted, 1 a
// baseline was violated, 0 every baseline held.
func (r *Report) ExitCode() int {
	switch {
	case r.ChecksFailed():
		return 4
	case r.Error != "":
		return 3
	case r.Interrupted:
		return 130
	case !r.Passed():
		return 1
	}
	return 0
}

// BottleneckLine says in one line what limited the run; empty when no
// tick of load was judged.
func (r *Report) BottleneckLine() string {
	bn := r.Bottleneck
	if bn == nil || len(bn.Verdicts) == 0 {
		return ""
	}
	v := bn.Verdicts[0]
	s := fmt.Sprintf("%s for %.0f%% of %d ticks of load", v.Verdict, 100*v.Share, bn.Ticks)
	if w := bn.Worst; w != nil {
		s += fmt.Sprintf("; worst at %.1f s: %s", w.AtSeconds, w.Line)
	}
	return s
}

type htmlWriter struct{ b *bytes.Buffer }

func (h htmlWriter) raw(s string)              { h.b.WriteString(s) }
func (h htmlWriter) text(s string)             { h.b.WriteString(html.EscapeString(s)) }
func (h htmlWriter) f(format string, a ...any) { h.text(fmt.Sprintf(format, a...)) }

// row writes a table row of escaped cells; a cell starting with "\x00" is
// numeric (right-aligned).
func (h htmlWriter) row(tag string, cells ...string) {
	h.raw("<tr>")
	for _, c := range cells {
		if strings.HasPrefix(c, "\x00") {
			h.raw("<" + tag + ` class="n">`)
			h.text(c[1:])
		} else {
			h.raw("<" + tag + ">")
			h.text(c)
		}
		h.raw("</" + tag + ">")
	}
	h.raw("</tr>\n")
}

func num(s string) string { return "\x00" + s }

// figure writes a chart with its enlarge and close links.
func (h htmlWriter) figure(c *chart) {
	id := "chart-" + c.id
	h.raw(`<figure class="fig" id="` + html.EscapeString(id) + `">`)
	h.raw(`<a class="zoom" href="#` + html.EscapeString(id) + `">enlarge</a><a class="close" href="#top">close</a>`)
	c.svg(h.b, false)
	h.raw("</figure>\n")
}

func writeHTML(b *bytes.Buffer, r *Report) {
	h := htmlWriter{b}
	htmlHead(h, r)
	cs := r.charts()
	htmlNav(h, cs)
	for _, section := range []func(htmlWriter, *Report, chartSet){
		htmlOps, htmlResources, htmlScalability, htmlBaselines, htmlChecks, htmlSettings, htmlEpochs, htmlEvents,
	} {
		section(h, r, cs)
	}
	h.raw("<footer>")
	h.text("phantom " + cmpOr(r.Version, "unknown") + " · report schema " + r.Schema)
	h.raw("</footer>\n</body>\n</html>\n")
}

// htmlHead opens the page and writes the verdict: what a reader must see
// first.
func htmlHead(h htmlWriter, r *Report) {
	// The verdict is the outcome's first word: PASS, FAIL or FAILED (the
	// run itself failed); an interrupted run's is marked so.
	outcome := r.Outcome(" — ")
	verdict, _, _ := strings.Cut(outcome, " ")
	cls := "fail"
	switch {
	case r.ExitCode() == 0:
		cls = "pass"
	case verdict == "PASS": // interrupted, every baseline held so far
		cls = "warn"
	}
	if r.Interrupted {
		verdict += " (interrupted)"
	}
	h.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
	h.text("phantom report · " + outcome)
	h.raw("</title>\n<style>\n" + pageCSS + "\n" + svgCSS + "\n</style>\n</head>\n<body id=\"top\">\n")

	// The verdict first.
	h.raw(`<header class="verdict ` + cls + `" id="verdict">` + "\n<h1>")
	h.text(verdict)
	h.raw("</h1>\n<p class=\"outcome\">")
	h.text(outcome)
	h.raw("</p>\n<ul class=\"facts\">\n")
	h.raw("<li>exit code <b>")
	h.text(strconv.Itoa(r.ExitCode()))
	h.raw("</b></li>\n<li>checks: ")
	h.text(checksLine(r))
	h.raw("</li>\n<li>baselines: ")
	h.text(baselinesLine(r))
	h.raw("</li>\n")
	if l := r.BottleneckLine(); l != "" {
		h.raw("<li>bottleneck: ")
		h.text(l)
		h.raw("</li>\n")
	}
	h.raw("</ul>\n<p class=\"when\">")
	h.f("started %s · ended %s · load measured %.1f s · phantom %s", r.StartedAt.UTC().Format(time.RFC3339), r.EndedAt.UTC().Format(time.RFC3339), r.ElapsedSeconds, cmpOr(r.Version, "unknown"))
	h.raw("</p>\n")
	if s := settingsLine(r.Settings); s != "" {
		h.raw("<p class=\"when\">")
		h.text(s)
		h.raw("</p>\n")
	}
	h.raw("</header>\n")
}

// htmlNav links every section and op.
func htmlNav(h htmlWriter, cs chartSet) {
	h.raw("<nav><b>Contents:</b> <a href=\"#ops\">operations</a>")
	for _, oc := range cs.ops {
		h.raw(` · <a href="#op-` + html.EscapeString(chartID(oc.op.Name)) + `">`)
		h.text(oc.op.Name)
		h.raw("</a>")
	}
	h.raw(` · <a href="#resources">resources</a> · <a href="#scalability">scalability</a> · <a href="#baselines">baselines</a> · <a href="#checks">checks</a> · <a href="#settings">settings</a> · <a href="#epochs">epochs</a> · <a href="#events">events</a></nav>` + "\n")
}

// htmlOps is every op's figures, then each op's charts.
func htmlOps(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"ops\">\n<h2>Operations</h2>\n<table>\n<thead>")
	h.row("th", "suite", "op", num("count"), num("errors"), num("ops/s"), num("avg"), num("p50"), num("p90"), num("p99"), num("p99.9"), num("max"))
	h.raw("</thead>\n<tbody>\n")
	for _, o := range sortedOps(r) {
		l := o.LatencyMs
		h.row("td", o.Suite, o.Name, num(FormatCount(float64(o.Count))), num(FormatCount(float64(o.Errors))), num(FormatCount(o.OpsPerSec)),
			num(msText(l.Avg)), num(msText(l.P50)), num(msText(l.P90)), num(msText(l.P99)), num(msText(l.P999)), num(msText(l.Max)))
	}
	h.raw("</tbody>\n</table>\n")
	h.raw(`<p class="legend">Charts: the shaded spans are epochs (between live changes); on the time axis <span class="k fault">▲ fault</span> <span class="k election">▲ election</span> <span class="k violation">▲ violation</span> — hover a mark for what happened. Latency over time is each point's own p50 and p99, from its HDR histogram.</p>` + "\n")
	for _, oc := range cs.ops {
		h.raw(`<article class="op" id="op-` + html.EscapeString(chartID(oc.op.Name)) + `" data-op="` + html.EscapeString(oc.op.Name) + `">` + "\n<h3>")
		h.text(oc.op.Name)
		h.raw("</h3>\n<p class=\"sub\">")
		h.f("%s ops/s over %.1f s · %s completed, %s errors", FormatCount(oc.op.OpsPerSec), oc.op.ElapsedSeconds, FormatCount(float64(oc.op.Count)), FormatCount(float64(oc.op.Errors)))
		if len(oc.op.ErrorsByKind) > 0 {
			h.text(" (" + kindsLine(oc.op.ErrorsByKind) + ")")
		}
		h.raw("</p>\n")
		for _, k := range slices.Sorted(maps.Keys(oc.op.ErrorSamples)) {
			h.raw(`<p class="sub error-sample">`)
			h.text(k + ": " + oc.op.ErrorSamples[k])
			h.raw("</p>\n")
		}
		h.raw("<div class=\"charts\">\n")
		h.figure(oc.throughput)
		h.figure(oc.latency)
		h.figure(oc.spectrum)
		h.raw("</div>\n</article>\n")
	}
	h.raw("</section>\n")
}

// htmlResources is the resource figures and charts.
func htmlResources(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"resources\">\n<h2>Resources</h2>\n<table>\n<thead>")
	h.row("th", "resource", num("avg"), num("max"))
	h.raw("</thead>\n<tbody>\n")
	for _, rw := range resourceRows(r) {
		h.row("td", rw.name, num(statText(rw.s, rw.unit, false)), num(statText(rw.s, rw.unit, true)))
	}
	h.raw("</tbody>\n</table>\n")
	if len(cs.resources) == 0 {
		h.raw("<p>No resource series in this report.</p>\n")
	}
	h.raw("<div class=\"charts\">\n")
	for _, c := range cs.resources {
		h.figure(c)
	}
	h.raw("</div>\n</section>\n")
}

// htmlScalability is every sweep's fit and chart.
func htmlScalability(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"scalability\">\n<h2>Scalability</h2>\n")
	if len(cs.scaling) == 0 {
		h.raw("<p>Not measured: the scalability suite did not run.</p>\n")
	} else {
		var md bytes.Buffer
		mdScalabilityFits(&md, r)
		h.raw("<ul>\n")
		for _, l := range strings.Split(strings.TrimSpace(md.String()), "\n") {
			h.raw("<li>")
			h.text(l)
			h.raw("</li>\n")
		}
		h.raw("</ul>\n")
		for _, sw := range r.Scalability.Sweeps {
			head, rows := sweepTable(sw)
			h.raw("<h3>")
			h.text(sweepTitle(sw.Kind))
			h.raw("</h3>\n<table>\n<thead>")
			h.row("th", numCells(head)...)
			h.raw("</thead>\n<tbody>\n")
			for _, row := range rows {
				h.row("td", numCells(row)...)
			}
			h.raw("</tbody>\n</table>\n")
		}
		h.raw("<div class=\"charts\">\n")
		for _, c := range cs.scaling {
			h.figure(c)
		}
		h.raw("</div>\n")
	}
	h.raw("</section>\n")
}

// htmlBaselines is the baselines' verdicts and the violations.
func htmlBaselines(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"baselines\">\n<h2>Baselines</h2>\n")
	if len(r.Baselines) == 0 {
		h.raw("<p>No baseline was set.</p>\n")
	} else {
		h.raw("<table>\n<thead>")
		h.row("th", "subject", "metric", num("limit"), num("value"), "result")
		h.raw("</thead>\n<tbody>\n")
		for _, bl := range r.Baselines {
			v := Verdict(bl)
			rel := "< "
			if bl.Metric == MetricThroughput {
				rel = "> "
			}
			res := "PASS"
			if !bl.Pass {
				res = "FAIL"
			}
			h.raw(`<tr class="` + strings.ToLower(res) + `">`)
			for _, c := range []string{v.Subject(), metricLabel(bl.Metric), num(rel + formatValue(bl.Limit, bl.Unit)), num(formatValue(bl.Value, bl.Unit)), res} {
				if strings.HasPrefix(c, "\x00") {
					h.raw(`<td class="n">`)
					c = c[1:]
				} else {
					h.raw("<td>")
				}
				h.text(c)
				h.raw("</td>")
			}
			h.raw("</tr>\n")
		}
		h.raw("</tbody>\n</table>\n")
	}
	if len(r.Violations) > 0 {
		h.raw("<h3>Violations during the run</h3>\n<table>\n<thead>")
		h.row("th", num("at"), "subject", "metric", num("value"), num("limit"))
		h.raw("</thead>\n<tbody>\n")
		for _, v := range r.Violations {
			h.row("td", num(fmt.Sprintf("%.1f s", v.AtSeconds)), cmpOr(v.Op, v.Suite), metricLabel(v.Metric), num(formatValue(v.Value, v.Unit)), num(formatValue(v.Limit, v.Unit)))
		}
		h.raw("</tbody>\n</table>\n")
	}
	h.raw("</section>\n")
}

// htmlChecks is the correctness checks and the elections.
func htmlChecks(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"checks\">\n<h2>Correctness checks</h2>\n")
	if len(r.Checks) == 0 {
		h.raw("<p>None ran.</p>\n")
	} else {
		h.raw("<table>\n<thead>")
		h.row("th", "suite", "check", "verdict", num("ops"), num("keys"), num("seconds"), "detail")
		h.raw("</thead>\n<tbody>\n")
		for _, c := range r.Checks {
			h.row("td", c.Suite, c.Name, string(c.Verdict), num(FormatCount(float64(c.Ops))), num(FormatCount(float64(c.Keys))), num(fmt.Sprintf("%.1f", c.Seconds)), c.Detail)
		}
		h.raw("</tbody>\n</table>\n")
	}
	if e := r.Elections; e != nil {
		h.raw("<h3>Leader elections</h3>\n<table>\n<thead>")
		h.row("th", "scope", num("caused"), num("spontaneous"), num("spontaneous per minute"))
		h.raw("</thead>\n<tbody>\n")
		h.row("td", "run", num(strconv.Itoa(e.Caused)), num(strconv.Itoa(e.Spontaneous)), num(fmt.Sprintf("%.1f", e.PerMinuteSpontaneous)))
		for _, name := range sortedSuites(r) {
			if e := r.Suites[name].Elections; e != nil {
				h.row("td", name, num(strconv.Itoa(e.Caused)), num(strconv.Itoa(e.Spontaneous)), num(fmt.Sprintf("%.1f", e.PerMinuteSpontaneous)))
			}
		}
		h.raw("</tbody>\n</table>\n")
	}
	h.raw("</section>\n")
}

// htmlSettings is the run's settings, load model and cluster.
func htmlSettings(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"settings\">\n<h2>Settings</h2>\n<table>\n<tbody>\n")
	for _, kv := range flatSettings(r.Settings) {
		h.row("td", kv[0], kv[1])
	}
	h.row("td", "load model", loadLine(r))
	h.row("td", "cluster at the end", fmt.Sprintf("%d nodes, %d shards, %d leader changes", r.Cluster.Nodes, r.Cluster.Shards, r.Cluster.LeaderChanges))
	if r.Cluster.Emulated {
		h.row("td", "emulated", "the nodes shared this machine, each process under a CPU quota: "+r.Cluster.CPUQuota)
	}
	for _, n := range r.Cluster.NodeResources {
		if n.QuotaCPUs <= 0 {
			continue
		}
		use := "CPU n/a"
		if n.CPUSamples > 0 {
			use = fmt.Sprintf("CPU avg %.0f%%, max %.0f%%", n.CPUAvgPercent, n.CPUMaxPercent)
		}
		use += fmt.Sprintf(" of a %.0f%% quota (one core = 100%%)", n.QuotaCPUs*100)
		if n.ThrottledSamples > 0 {
			use += fmt.Sprintf("; throttled in %.0f%% of the periods it wanted CPU (max %.0f%%)", n.ThrottledAvgPercent, n.ThrottledMaxPercent)
		}
		h.row("td", "node "+n.ID, use)
	}
	h.raw("</tbody>\n</table>\n</section>\n")
}

// htmlEpochs is the spans between live changes.
func htmlEpochs(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"epochs\">\n<h2>Epochs</h2>\n")
	if len(r.Epochs) == 0 {
		h.raw("<p>None.</p>\n")
	} else {
		h.raw("<table>\n<thead>")
		h.row("th", num("#"), num("from"), num("to"), "opened by", "ops/s per op")
		h.raw("</thead>\n<tbody>\n")
		for _, e := range r.Epochs {
			names := make([]string, 0, len(e.Ops))
			for n := range e.Ops {
				names = append(names, n)
			}
			sort.Strings(names)
			var parts []string
			for _, n := range names {
				parts = append(parts, n+" "+FormatCount(e.Ops[n].OpsPerSec))
			}
			h.row("td", num(strconv.Itoa(e.Index)), num(fmt.Sprintf("%.1f s", e.StartS)), num(fmt.Sprintf("%.1f s", e.EndS)), e.Change, strings.Join(parts, " · "))
		}
		h.raw("</tbody>\n</table>\n")
	}
	h.raw("</section>\n")
}

// htmlEvents is everything that happened.
func htmlEvents(h htmlWriter, r *Report, cs chartSet) {
	h.raw("<section id=\"events\">\n<h2>Events</h2>\n")
	if len(r.Events) == 0 {
		h.raw("<p>None.</p>\n")
	} else {
		h.raw("<table>\n<thead>")
		h.row("th", num("at"), "kind", "what")
		h.raw("</thead>\n<tbody>\n")
		for _, e := range r.Events {
			h.raw(`<tr class="ev ` + html.EscapeString(e.Kind) + `">`)
			h.raw(`<td class="n">`)
			h.f("%.1f s", e.AtSeconds)
			h.raw("</td><td>")
			h.text(e.Kind)
			h.raw("</td><td>")
			h.text(e.Message)
			h.raw("</td></tr>\n")
		}
		h.raw("</tbody>\n</table>\n")
	}
	h.raw("</section>\n")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checksLine(r *Report) string {
	if len(r.Checks) == 0 {
		return "none ran"
	}
	ok, bad := 0, 0
	var failed []string
	for _, c := range r.Checks {
		switch {
		case c.Failed():
			bad++
			failed = append(failed, c.Suite+" "+c.Name)
		case c.Verdict == CheckOK:
			ok++
		}
	}
	s := fmt.Sprintf("%d of %d passed", ok, len(r.Checks))
	if bad > 0 {
		s += "; violated: " + strings.Join(failed, ", ")
	}
	return s
}

func baselinesLine(r *Report) string {
	if len(r.Baselines) == 0 {
		return "none set"
	}
	held := 0
	for _, b := range r.Baselines {
		if b.Pass {
			held++
		}
	}
	return fmt.Sprintf("%d of %d held", held, len(r.Baselines))
}

func kindsLine(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func loadLine(r *Report) string {
	l := r.Load
	if l.Model == "open" {
		return fmt.Sprintf("open loop at %s ops/s; %d iterations late, at most %s behind", FormatCount(l.TargetOpsPerSec), l.Late, msText(l.MaxLagMs))
	}
	return cmpOr(l.Model, "closed") + " loop"
}

type resourceRow struct {
	name string
	s    *StatReport
	unit string
}

func resourceRows(r *Report) []resourceRow {
	res := r.Resources
	return []resourceRow{
		{"machine CPU", res.CPU.MachinePercent, "%"},
		{"phantom CPU", res.CPU.ProcessPercent, "%"},
		{"phantom RSS", res.Memory.RSSBytes, "B"},
		{"machine memory used", res.Memory.UsedBytes, "B"},
		{"network received", res.Network.RxBytesPerSec, "B/s"},
		{"network sent", res.Network.TxBytesPerSec, "B/s"},
		{"disk read", res.Disk.ReadBytesPerSec, "B/s"},
		{"disk written", res.Disk.WriteBytesPerSec, "B/s"},
	}
}

// flatSettings lists the settings as key, value pairs, nested objects as
// dotted keys, sorted.
func flatSettings(settings any) [][2]string {
	b, err := json.Marshal(settings)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	var out [][2]string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case map[string]any:
				walk(prefix+k+".", v)
			case []any:
				var items []string
				for _, it := range v {
					items = append(items, fmt.Sprint(it))
				}
				out = append(out, [2]string{prefix + k, strings.Join(items, ", ")})
			case float64:
				out = append(out, [2]string{prefix + k, strconv.FormatFloat(v, 'f', -1, 64)})
			default:
				out = append(out, [2]string{prefix + k, fmt.Sprint(v)})
			}
		}
	}
	walk("", m)
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// mdScalabilityFits writes one line per sweep: its fit or why there is none.
func mdScalabilityFits(b *bytes.Buffer, r *Report) {
	sc := r.Scalability
	if sc == nil {
		return
	}
	sweeps := sc.Sweeps
	if len(sweeps) == 0 {
		sweeps = []SweepReport{{Kind: SweepClients, Points: sc.Points, Fit: sc.Fit, FitError: sc.FitError}}
	}
	for _, sw := range sweeps {
		fmt.Fprintf(b, "%s: ", sweepTitle(sw.Kind))
		if f := sw.Fit; f != nil {
			peak := "never (κ ≤ 0)"
			if f.PeakN != nil {
				peak = fmt.Sprintf("%.1f %s, %s ops/s", *f.PeakN, sw.Kind, FormatCount(f.PeakOpsPerSec))
			}
			fmt.Fprintf(b, "USL σ = %.4f (contention), κ = %.5f (coherency), λ = %s ops/s per %s, R² = %.3f; predicted peak: %s",
				f.Sigma, f.Kappa, FormatCount(f.Lambda), strings.TrimSuffix(sw.Kind, "s"), f.R2, peak)
		} else {
			fmt.Fprintf(b, "no USL fit: %s", sw.FitError)
		}
		if sw.Bound != "" {
			fmt.Fprintf(b, "; %s", sw.Bound)
		}
		if t := sweepLoad(sw); t != "" {
			fmt.Fprintf(b, "; %s", t)
		}
		b.WriteString("\n")
		for _, n := range sw.Notes {
			fmt.Fprintf(b, "%s, note: %s\n", sweepTitle(sw.Kind), n)
		}
	}
}

// numCells right-aligns every cell but the first (a table of figures).
func numCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		if i > 0 {
			c = num(c)
		}
		out[i] = c
	}
	return out
}

// pageCSS styles the page; print rules keep each chart whole on a page.
const pageCSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1600px;margin:0 auto;padding:0 16px 32px}
h1{margin:0;font-size:34px;letter-spacing:1px}
h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{margin:18px 0 2px}
.verdict{padding:14px 18px;margin:16px 0;border-radius:6px;border-left:10px solid}
.verdict.pass{background:#eaf7ea;border-color:#2ca02c}
.verdict.pass h1{color:#1d7a1d}
.verdict.fail{background:#fdecea;border-color:#d62728}
.verdict.fail h1{color:#b71c1c}
.verdict.warn{background:#fff6e0;border-color:#e6a100}
.verdict.warn h1{color:#8a6100}
.outcome{font-size:17px;font-weight:600;margin:4px 0}
.facts{margin:6px 0;padding-left:20px}
.when,.sub,.legend{color:#555;margin:2px 0;overflow-wrap:break-word}
nav{margin:8px 0;color:#555}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f4f4f4}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fdecea;font-weight:600}
tr.ev.fault td,tr.ev.violation td,tr.ev.error td{color:#b71c1c}
tr.ev.election td{color:#6a3d9a}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:10px}
.fig{margin:0;position:relative;border:1px solid #eee;padding:2px}
.fig svg{width:100%;height:auto;display:block}
.fig a{position:absolute;bottom:2px;font-size:11px;color:#1f77b4;text-decoration:none}
.fig a.zoom{right:8px}
.fig a.close{right:8px;display:none}
.fig:target{position:fixed;top:0;left:0;right:0;bottom:0;z-index:10;background:#fff;padding:24px;overflow:auto;border:0}
.fig:target a.zoom{display:none}
.fig:target a.close{display:inline;font-size:16px}
.k{font-weight:600}
.k.fault{color:#d62728}
.k.election{color:#9467bd}
.k.violation{color:#ff7f0e}
footer{margin-top:32px;color:#888;font-size:12px}
@media print{
body{max-width:none;font-size:11px;padding:0}
table{font-size:10px}
th,td{padding:2px 4px}
nav,.fig a{display:none}
.charts{display:block}
.fig{break-inside:avoid;page-break-inside:avoid;border:0;margin-bottom:8px}
.fig:target{position:static;padding:0}
article.op{break-before:auto}
h2,h3{break-after:avoid}
.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}`

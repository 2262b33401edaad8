package metrics

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"time"
)

// WriteComparisonHTML writes the comparison of report b against a as one
// self-contained HTML page, like WriteHTML: the verdict first (which ops
// regressed by more than threshold), the two runs side by side, the
// per-op table with every regression marked, then for each op in both its
// throughput and latency over time, A beside B on the same scale, and
// both latency spectra on one chart. nameA and nameB label the runs.
func WriteComparisonHTML(w io.Writer, a, b *Report, nameA, nameB string, threshold float64) error {
	ra, err := viaJSON(a)
	if err != nil {
		return err
	}
	rb, err := viaJSON(b)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	writeComparisonHTML(&buf, ra, rb, nameA, nameB, threshold)
	_, err = w.Write(buf.Bytes())
	return err
}

func writeComparisonHTML(buf *bytes.Buffer, a, b *Report, nameA, nameB string, threshold float64) {
	h := htmlWriter{buf}
	deltas := Compare(a, b, threshold)
	compareHead(h, deltas, threshold)
	compareRuns(h, a, b, nameA, nameB)
	compareTable(h, deltas, threshold)
	compareCharts(h, a, b, deltas)
	h.raw("<footer>")
	h.text("phantom compare · A " + nameA + " · B " + nameB)
	h.raw("</footer>\n</body>\n</html>\n")
}

// compareHead opens the page with the verdict: which ops regressed.
func compareHead(h htmlWriter, deltas []Delta, threshold float64) {
	var regressed []string
	for _, d := range deltas {
		if d.Regressed {
			regressed = append(regressed, d.Op)
		}
	}
	verdict, cls := "NO REGRESSION", "pass"
	line := fmt.Sprintf("no op of B regressed against A by more than %s", pct(threshold)[1:])
	if len(regressed) > 0 {
		verdict, cls = "REGRESSED", "fail"
		line = fmt.Sprintf("%d op(s) of B regressed against A by more than %s: ", len(regressed), pct(threshold)[1:])
		for i, op := range regressed {
			if i > 0 {
				line += ", "
			}
			line += op
		}
	}
	h.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
	h.text("phantom compare · " + verdict)
	h.raw("</title>\n<style>\n" + pageCSS + "\n" + svgCSS + "\n" + compareCSS + "\n</style>\n</head>\n<body id=\"top\">\n")
	h.raw(`<header class="verdict ` + cls + `" id="verdict">` + "\n<h1>")
	h.text(verdict)
	h.raw("</h1>\n<p class=\"outcome\">")
	h.text(line)
	h.raw("</p>\n<p class=\"when\">")
	h.text("exit code " + map[bool]string{true: "1", false: "0"}[len(regressed) > 0] + " · a regression is less throughput, or a higher average or p99 latency, by more than the threshold")
	h.raw("</p>\n</header>\n")
}

// compareRuns sets the two runs side by side.
func compareRuns(h htmlWriter, a, b *Report, nameA, nameB string) {
	h.raw("<section id=\"runs\">\n<h2>The runs</h2>\n<table class=\"side\">\n<thead>")
	h.row("th", "", "A: "+nameA, "B: "+nameB)
	h.raw("</thead>\n<tbody>\n")
	both := func(label string, f func(r *Report) string) { h.row("td", label, f(a), f(b)) }
	both("result", func(r *Report) string { return r.Outcome(" — ") })
	both("exit code", func(r *Report) string { return strconv.Itoa(r.ExitCode()) })
	both("started", func(r *Report) string { return r.StartedAt.UTC().Format(time.RFC3339) })
	both("load measured", func(r *Report) string { return fmt.Sprintf("%.1f s", r.ElapsedSeconds) })
	both("phantom", func(r *Report) string { return cmpOr(r.Version, "unknown") })
	both("settings", func(r *Report) string { return settingsLine(r.Settings) })
	both("checks", checksLine)
	both("baselines", baselinesLine)
	both("bottleneck", func(r *Report) string { return cmpOr(r.BottleneckLine(), "not judged") })
	h.raw("</tbody>\n</table>\n</section>\n")
}

// compareTable is every op of B against A, each regression marked.
func compareTable(h htmlWriter, deltas []Delta, threshold float64) {
	h.raw("<section id=\"ops\">\n<h2>Operations, B against A</h2>\n<table>\n<thead>")
	h.row("th", "op", num("ops/s A"), num("ops/s B"), num("Δ"), num("avg A"), num("avg B"), num("Δ"), num("p99 A"), num("p99 B"), num("Δ"), "")
	h.raw("</thead>\n<tbody>\n")
	for _, d := range deltas {
		rowCls := ""
		if d.Regressed {
			rowCls = ` class="regressed"`
		}
		h.raw("<tr" + rowCls + "><td>")
		h.text(d.Op)
		h.raw("</td>")
		cell := func(s string, worse bool) {
			if worse {
				h.raw(`<td class="n worse">`)
			} else {
				h.raw(`<td class="n">`)
			}
			h.text(s)
			h.raw("</td>")
		}
		switch {
		case !d.InB:
			cell(FormatCount(d.A.OpsPerSec), false)
			cell("—", false)
			cell("", false)
			cell(msText(d.A.LatencyMs.Avg), false)
			cell("—", false)
			cell("", false)
			cell(msText(d.A.LatencyMs.P99), false)
			cell("—", false)
			cell("", false)
			h.raw("<td>only in A</td></tr>\n")
			continue
		case !d.InA:
			cell("—", false)
			cell(FormatCount(d.B.OpsPerSec), false)
			cell("", false)
			cell("—", false)
			cell(msText(d.B.LatencyMs.Avg), false)
			cell("", false)
			cell("—", false)
			cell(msText(d.B.LatencyMs.P99), false)
			cell("", false)
			h.raw("<td>only in B</td></tr>\n")
			continue
		}
		cell(FormatCount(d.A.OpsPerSec), false)
		cell(FormatCount(d.B.OpsPerSec), false)
		cell(pct(d.Throughput), d.Throughput < -threshold)
		cell(msText(d.A.LatencyMs.Avg), false)
		cell(msText(d.B.LatencyMs.Avg), false)
		cell(pct(d.Avg), d.Avg > threshold)
		cell(msText(d.A.LatencyMs.P99), false)
		cell(msText(d.B.LatencyMs.P99), false)
		cell(pct(d.P99), d.P99 > threshold)
		if d.Regressed {
			h.raw(`<td class="mark">REGRESSED</td></tr>` + "\n")
		} else {
			h.raw("<td></td></tr>\n")
		}
	}
	h.raw("</tbody>\n</table>\n")
	h.raw(`<p class="legend">Below, each op in both runs: A on the left, B on the right, on the same scale, each with its run's epochs shaded and faults, elections and violations marked; then both latency spectra.</p>` + "\n")
}

// compareCharts draws every op in both runs: A beside B, then both
// spectra on one chart; it closes the section compareTable opened.
func compareCharts(h htmlWriter, a, b *Report, deltas []Delta) {
	ca, cb := a.charts(), b.charts()
	byName := func(cs chartSet) map[string]opCharts {
		m := map[string]opCharts{}
		for _, oc := range cs.ops {
			m[oc.op.Name] = oc
		}
		return m
	}
	ma, mb := byName(ca), byName(cb)
	for _, d := range deltas {
		oa, okA := ma[d.Op]
		ob, okB := mb[d.Op]
		if !okA || !okB {
			continue
		}
		cls := "op"
		if d.Regressed {
			cls = "op regressed"
		}
		h.raw(`<article class="` + cls + `" id="op-` + html.EscapeString(chartID(d.Op)) + `" data-op="` + html.EscapeString(d.Op) + `">` + "\n<h3>")
		h.text(d.Op)
		if d.Regressed {
			h.raw(` <span class="mark">REGRESSED</span>`)
		}
		h.raw("</h3>\n<div class=\"pair\">\n")
		for _, pair := range [][2]*chart{{oa.throughput, ob.throughput}, {oa.latency, ob.latency}} {
			l, r := *pair[0], *pair[1]
			top := math.Max(chartTop(&l), chartTop(&r))
			l.yMax, r.yMax = top, top
			l.id, r.id = "a-"+l.id, "b-"+r.id
			l.title, r.title = "A · "+l.title, "B · "+r.title
			h.figure(&l)
			h.figure(&r)
		}
		h.raw("</div>\n<div class=\"charts\">\n")
		sp := *oa.spectrum
		sp.id = "ab-" + sp.id
		sp.title = d.Op + " · latency by percentile (HDR), A and B"
		sp.lines = nil
		for _, l := range oa.spectrum.lines {
			l.name, l.class = "A", "c0"
			sp.lines = append(sp.lines, l)
		}
		for _, l := range ob.spectrum.lines {
			l.name, l.class = "B", "c1"
			sp.lines = append(sp.lines, l)
		}
		h.figure(&sp)
		h.raw("</div>\n</article>\n")
	}
	h.raw("</section>\n")
}

// chartTop is the largest value a chart's lines reach.
func chartTop(c *chart) float64 {
	top := 0.0
	for _, l := range c.lines {
		for _, y := range l.ys {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				top = max(top, y)
			}
		}
	}
	return top
}

const compareCSS = `.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin-bottom:10px}
tr.regressed td{background:#fdecea}
td.worse{color:#b71c1c;font-weight:700}
.mark{color:#b71c1c;font-weight:700}
article.regressed h3{color:#b71c1c}
table.side td{max-width:560px}
@media print{.pair{display:block}}`

package metrics

import (
	"bytes"
	"html"
	"math"
	"strconv"
	"strings"
)

// Charts drawn as SVG by hand: a line chart over a linear or a "nines"
// axis, with shaded bands (epochs) and vertical marks (faults, elections,
// violations). The output is a pure function of the chart: same chart,
// same bytes. Coordinates are in a fixed viewBox, so a chart scales to
// any width and stays sharp when zoomed or printed.

const (
	svgW, svgH                     = 760, 250
	padL, padR, padT, padB float64 = 64, 16, 30, 38
)

// axisKind is how values map onto an axis.
type axisKind int

const (
	_ axisKind = iota // linear, the zero value
	// axisNines maps a percentile p to log10(100/(100-p)): 90, 99, 99.9
	// are evenly spaced, as HDR percentile plots draw them.
	axisNines
)

// chart is one SVG chart.
type chart struct {
	id, title      string
	xLabel, yLabel string
	xAxis          axisKind
	// xMin, xMax bound the x axis; both zero: the lines' extent.
	xMin, xMax float64
	yMax       float64 // a fixed top of the y axis, or 0: the lines' maximum
	yBinary    bool    // bytes: y ticks at round numbers of KiB, MiB, GiB
	yFmt, xFmt func(float64) string
	lines      []line
	bands      []band
	marks      []mark
	note       string // shown when no line has a value
}

// line is one data series; a NaN y is a gap.
type line struct {
	name   string
	class  string // colour class: c0…c7
	dash   bool
	dots   bool // a dot at every point
	noLine bool // dots only
	xs, ys []float64
}

// band shades a span of x: an epoch.
type band struct {
	x0, x1 float64
	label  string
}

// mark is a vertical line at x: an event of kind fault, election or
// violation.
type mark struct {
	x     float64
	kind  string
	label string
}

// Mark kinds and the event kinds they come from.
var markKinds = []struct {
	kind  EventKind
	class string
	name  string
}{
	{EventFault, "fault", "fault"},
	{EventElection, "election", "election"},
	{EventViolation, "violation", "violation"},
}

// nines maps a percentile onto axisNines; 100 lands one decade past
// 99.999 so the maximum has a place.
func nines(p float64) float64 {
	if p >= 100 {
		return 6
	}
	return min(math.Log10(100/(100-p)), 6)
}

// fnum formats a coordinate: one decimal, no trailing zeros.
func fnum(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// niceTicks returns about n round values from lo to hi.
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// svg writes the chart as an <svg> element; standalone adds the XML
// namespace a file of its own needs.
func (c *chart) svg(b *bytes.Buffer, standalone bool) {
	xmap := func(v float64) float64 {
		if c.xAxis == axisNines {
			return nines(v)
		}
		return v
	}
	// Extents.
	x0, x1 := c.xMin, c.xMax
	yTop := 0.0
	haveData := false
	for _, l := range c.lines {
		for i, y := range l.ys {
			if math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			x := xmap(l.xs[i])
			if c.xMin == 0 && c.xMax == 0 {
				if !haveData || x < x0 {
					x0 = x
				}
				if !haveData || x > x1 {
					x1 = x
				}
			}
			haveData = true
			yTop = max(yTop, y)
		}
	}
	if c.xMin != 0 || c.xMax != 0 {
		x0, x1 = xmap(c.xMin), xmap(c.xMax)
	}
	if !(x1 > x0) {
		x1 = x0 + 1
	}
	if c.yMax > 0 {
		yTop = c.yMax
	} else if yTop <= 0 {
		yTop = 1
	}
	unit := 1.0
	if c.yBinary {
		for unit*1024 <= yTop {
			unit *= 1024
		}
	}
	yTicks := niceTicks(0, yTop*1.05/unit, 4)
	for i := range yTicks {
		yTicks[i] *= unit
	}
	yTop = max(yTop*1.05, yTicks[len(yTicks)-1])
	pw, ph := svgW-padL-padR, svgH-padT-padB
	px := func(x float64) float64 { return padL + (xmap(x)-x0)/(x1-x0)*pw }
	py := func(y float64) float64 { return padT + ph - min(max(y, 0), yTop)/yTop*ph }

	b.WriteString(`<svg`)
	if standalone {
		b.WriteString(` xmlns="http://www.w3.org/2000/svg"`)
	}
	b.WriteString(` class="chart" viewBox="0 0 ` + strconv.Itoa(svgW) + ` ` + strconv.Itoa(svgH) + `" role="img" aria-label="` + html.EscapeString(c.title) + `"`)
	if c.id != "" {
		b.WriteString(` data-chart="` + html.EscapeString(c.id) + `"`)
	}
	b.WriteString(">\n")
	if standalone {
		b.WriteString("<style>" + svgCSS + "</style>\n")
	}
	b.WriteString(`<title>` + html.EscapeString(c.title) + "</title>\n")
	b.WriteString(`<text class="t" x="` + fnum(padL) + `" y="18">` + html.EscapeString(c.title) + "</text>\n")
	// Plot area, bands, grid.
	b.WriteString(`<rect class="plot" x="` + fnum(padL) + `" y="` + fnum(padT) + `" width="` + fnum(pw) + `" height="` + fnum(ph) + `"/>` + "\n")
	for i, bd := range c.bands {
		a, z := max(px(bd.x0), padL), min(px(bd.x1), padL+pw)
		if z <= a {
			continue
		}
		cls := "band"
		if i%2 == 1 {
			cls = "band odd"
		}
		b.WriteString(`<g class="` + cls + `"><title>epoch ` + html.EscapeString(bd.label) + `</title><rect x="` + fnum(a) + `" y="` + fnum(padT) + `" width="` + fnum(z-a) + `" height="` + fnum(ph) + `"/>`)
		if z-a > 40 {
			b.WriteString(`<text class="bl" x="` + fnum(a+3) + `" y="` + fnum(padT+ph-4) + `">` + html.EscapeString(clip(bd.label, int((z-a)/6))) + `</text>`)
		}
		b.WriteString("</g>\n")
	}
	for _, t := range yTicks {
		y := py(t)
		b.WriteString(`<line class="grid" x1="` + fnum(padL) + `" x2="` + fnum(padL+pw) + `" y1="` + fnum(y) + `" y2="` + fnum(y) + `"/>`)
		b.WriteString(`<text class="yt" x="` + fnum(padL-4) + `" y="` + fnum(y+4) + `">` + html.EscapeString(c.yFmt(t)) + "</text>\n")
	}
	var xTicks []float64
	if c.xAxis == axisNines {
		for _, p := range []float64{0, 90, 99, 99.9, 99.99, 99.999, 100} {
			if nines(p) >= x0 && nines(p) <= x1 {
				xTicks = append(xTicks, p)
			}
		}
	} else {
		xTicks = niceTicks(x0, x1, 8)
	}
	b.WriteString(`<g class="xaxis">`)
	for _, t := range xTicks {
		x := px(t)
		b.WriteString(`<line class="tick" x1="` + fnum(x) + `" x2="` + fnum(x) + `" y1="` + fnum(padT+ph) + `" y2="` + fnum(padT+ph+4) + `"/>`)
		b.WriteString(`<text class="xt" x="` + fnum(x) + `" y="` + fnum(padT+ph+16) + `">` + html.EscapeString(c.xFmt(t)) + `</text>`)
	}
	b.WriteString("</g>\n")
	b.WriteString(`<text class="al" x="` + fnum(padL+pw/2) + `" y="` + fnum(svgH-4) + `">` + html.EscapeString(c.xLabel) + "</text>\n")
	b.WriteString(`<text class="al" transform="translate(12 ` + fnum(padT+ph/2) + `) rotate(-90)">` + html.EscapeString(c.yLabel) + "</text>\n")
	// Lines.
	for _, l := range c.lines {
		cls := "ln " + l.class
		if l.dash {
			cls += " dash"
		}
		if !l.noLine {
			var d strings.Builder
			var lone []int // points with a gap on both sides: no line shows them
			ok := func(i int) bool { return i >= 0 && i < len(l.ys) && !math.IsNaN(l.ys[i]) && !math.IsInf(l.ys[i], 0) }
			for i, y := range l.ys {
				if !ok(i) {
					continue
				}
				if ok(i - 1) {
					d.WriteString("L")
				} else {
					d.WriteString("M")
					if !ok(i + 1) {
						lone = append(lone, i)
					}
				}
				d.WriteString(fnum(px(l.xs[i])) + " " + fnum(py(y)))
			}
			if d.Len() > 0 {
				b.WriteString(`<path class="` + cls + `" d="` + d.String() + `"><title>` + html.EscapeString(l.name) + "</title></path>\n")
			}
			if len(lone) > 0 && !l.dots {
				b.WriteString(`<g class="dots ` + l.class + `">`)
				for _, i := range lone {
					b.WriteString(`<circle cx="` + fnum(px(l.xs[i])) + `" cy="` + fnum(py(l.ys[i])) + `" r="2.5"><title>` +
						html.EscapeString(l.name+" at "+c.xFmt(l.xs[i])+": "+c.yFmt(l.ys[i])) + `</title></circle>`)
				}
				b.WriteString("</g>\n")
			}
		}
		if l.dots {
			b.WriteString(`<g class="dots ` + l.class + `">`)
			for i, y := range l.ys {
				if math.IsNaN(y) || math.IsInf(y, 0) {
					continue
				}
				b.WriteString(`<circle cx="` + fnum(px(l.xs[i])) + `" cy="` + fnum(py(y)) + `" r="3.5"><title>` +
					html.EscapeString(c.xFmt(l.xs[i])+": "+c.yFmt(y)) + `</title></circle>`)
			}
			b.WriteString("</g>\n")
		}
	}
	// Marks, over the lines, on the time axis.
	for _, m := range c.marks {
		x := px(m.x)
		if x < padL || x > padL+pw {
			continue
		}
		b.WriteString(`<g class="mark ` + m.kind + `" data-kind="` + m.kind + `" data-at="` + strconv.FormatFloat(m.x, 'f', 3, 64) + `"><title>` +
			html.EscapeString(c.xFmt(m.x)+" "+m.kind+": "+m.label) + `</title>`)
		b.WriteString(`<line x1="` + fnum(x) + `" x2="` + fnum(x) + `" y1="` + fnum(padT) + `" y2="` + fnum(padT+ph) + `"/>`)
		b.WriteString(`<path d="M` + fnum(x-4) + " " + fnum(padT+ph+1) + "L" + fnum(x+4) + " " + fnum(padT+ph+1) + "L" + fnum(x) + " " + fnum(padT+ph-7) + `Z"/>`)
		b.WriteString("</g>\n")
	}
	// Legend, right-aligned above the plot.
	lx := padL + pw
	for i := len(c.lines) - 1; i >= 0; i-- {
		l := c.lines[i]
		w := float64(len([]rune(l.name)))*6.2 + 22
		lx -= w
		b.WriteString(`<g class="lg ` + l.class + `"><rect x="` + fnum(lx) + `" y="` + fnum(padT-14) + `" width="14" height="4"/><text x="` + fnum(lx+18) + `" y="` + fnum(padT-9) + `">` + html.EscapeString(l.name) + "</text></g>\n")
	}
	if !haveData {
		note := c.note
		if note == "" {
			note = "no data"
		}
		b.WriteString(`<text class="nd" x="` + fnum(padL+pw/2) + `" y="` + fnum(padT+ph/2) + `">` + html.EscapeString(note) + "</text>\n")
	}
	b.WriteString("</svg>\n")
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if n < 2 {
		return ""
	}
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// svgCSS styles the charts, inline in the page and in every SVG file.
const svgCSS = `.chart{font:11px sans-serif;background:#fff}
.chart .t{font-weight:bold;font-size:13px;fill:#222}
.chart .plot{fill:#fff;stroke:#999}
.chart .grid{stroke:#e3e3e3}
.chart .tick{stroke:#666}
.chart .yt{text-anchor:end;fill:#444}
.chart .xt{text-anchor:middle;fill:#444}
.chart .al{text-anchor:middle;fill:#333}
.chart .band rect{fill:#eef3fb}
.chart .band.odd rect{fill:#f7f1e6}
.chart .bl{fill:#7a8699;font-size:10px}
.chart .ln{fill:none;stroke-width:1.6;stroke-linejoin:round}
.chart .dash{stroke-dasharray:6 4}
.chart .nd{text-anchor:middle;fill:#999;font-size:14px}
.chart .lg text{fill:#333;stroke:none}
.chart .mark line{stroke-width:1.4}
.chart .mark.fault line{stroke:#d62728}
.chart .mark.fault path{fill:#d62728}
.chart .mark.election line{stroke:#9467bd;stroke-dasharray:3 3}
.chart .mark.election path{fill:#9467bd}
.chart .mark.violation line{stroke:#ff7f0e;stroke-dasharray:1 3}
.chart .mark.violation path{fill:#ff7f0e}
.chart .c0{stroke:#1f77b4;fill:#1f77b4}
.chart .c1{stroke:#d62728;fill:#d62728}
.chart .c2{stroke:#2ca02c;fill:#2ca02c}
.chart .c3{stroke:#9467bd;fill:#9467bd}
.chart .c4{stroke:#8c564b;fill:#8c564b}
.chart .c5{stroke:#e377c2;fill:#e377c2}
.chart .c6{stroke:#7f7f7f;fill:#7f7f7f}
.chart .c7{stroke:#17becf;fill:#17becf}
.chart path.ln{fill:none}
.chart .lg rect{stroke:none}`

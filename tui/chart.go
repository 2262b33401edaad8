package tui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/guptarohit/asciigraph"

	"github.com/phantomdb/phantom/suites/metrics"
)

// latencyChart draws the selected op's p50 and p99 history in
// milliseconds, with the latency baseline as a flat line.
type latencyChart struct {
	sh            *shared
	width, height int // height counts the title and caption lines
	op            metrics.OpStats
	has           bool
	violated      bool
	baseline      time.Duration // zero: no latency baseline
}

func newLatencyChart(sh *shared, baseline time.Duration) latencyChart {
	return latencyChart{sh: sh, baseline: baseline}
}

// SetSize gives the chart width cells and height lines.
func (c latencyChart) SetSize(width, height int) latencyChart {
	c.width, c.height = width, height
	return c
}

// Height is the lines the chart was given; zero when it is hidden.
func (c latencyChart) Height() int { return c.height }

// SetOp chooses the op to draw; violated marks it as over a baseline.
func (c latencyChart) SetOp(op metrics.OpStats, ok, violated bool) latencyChart {
	c.op, c.has, c.violated = op, ok, violated
	return c
}

// Series strokes: the chart must read without colour too, so the series
// differ in their strokes as well as their colours.
var (
	strokeP99      = asciigraph.DefaultCharSet
	strokeP50      = asciigraph.CreateCharSet("·")
	strokeBaseline = asciigraph.CreateCharSet("┄")
)

func (c latencyChart) View() string {
	if c.height < 4 || c.width < 20 {
		return ""
	}
	st := c.sh.styles
	plotH := c.height - 2

	name := "no op yet"
	if c.has {
		name = c.op.Name
	}
	h := c.op.History
	p50, p99 := make([]float64, len(h)), make([]float64, len(h))
	top := 0.0
	for i, p := range h {
		p50[i], p99[i] = ms(p.P50), ms(p.P99)
		top = max(top, p99[i], p50[i])
	}
	series := [][]float64{p99, p50}
	strokes := []asciigraph.CharSet{strokeP99, strokeP50}
	colors := []asciigraph.AnsiColor{st.ChartP99, st.ChartP50}

	legend := st.P99.Render("─ p99") + "  " + st.P50.Render("· p50")
	if c.baseline > 0 {
		b := ms(c.baseline)
		// Drawn only when the figures come near it: a 100 ms line over
		// sub-millisecond figures would flatten them into the floor.
		if top > 0 && b <= 3*top {
			n := max(len(h), 2)
			flat := make([]float64, n)
			for i := range flat {
				flat[i] = b
			}
			series = append(series, flat)
			strokes = append(strokes, strokeBaseline)
			colors = append(colors, st.ChartBaseline)
			legend += "  " + st.Violation.Render("┄ baseline "+metrics.FormatDuration(c.baseline))
		} else {
			legend += "  " + st.Dim.Render("baseline "+metrics.FormatDuration(c.baseline)+" (above the chart)")
		}
	}

	title := st.Section.Render("LATENCY") + " " + st.Value.Render(name) + st.Dim.Render(" (ms)")
	if c.violated {
		title += " " + st.Violation.Render("✗ over baseline")
	}
	title += "   " + legend

	opts := plotOptions{width: c.width, height: plotH, strokes: strokes}
	if st.Color {
		opts.colors, opts.axis = colors, st.ChartAxis
	}
	body, shown, indent := plot(series, opts)

	caption := "waiting for the first tick"
	if n := min(shown, len(h)); n > 0 {
		shownH := h[len(h)-n:]
		span := shownH[n-1].At - shownH[0].At
		caption = "p50 and p99 of the window, per tick, over the last " + clockOrSeconds(span)
		if n == 1 {
			caption = "p50 and p99 of the first tick"
		}
	}
	caption = strings.Repeat(" ", indent) + st.Dim.Render(caption)
	if marks := c.marks(min(shown, len(h))); marks != "" {
		caption = strings.Repeat(" ", indent) + st.Violation.Render(marks) + st.Dim.Render(" ✗ window avg over the baseline")
	}
	return fit(title+"\n"+body+"\n"+caption, c.width)
}

// marks is a row under the newest n points of the plot, one cell each: ✗
// under a point whose window average broke the latency baseline, "" when
// none did.
func (c latencyChart) marks(n int) string {
	if c.baseline <= 0 || n <= 0 {
		return ""
	}
	h := c.op.History[len(c.op.History)-n:]
	row := make([]rune, n)
	any := false
	for i, p := range h {
		row[i] = ' '
		if p.Avg > c.baseline {
			row[i], any = '✗', true
		}
	}
	if !any {
		return ""
	}
	return strings.TrimRight(string(row), " ")
}

// rateChart draws the selected op's throughput history.
type rateChart struct {
	sh            *shared
	width, height int
	op            metrics.OpStats
	has           bool
}

func newRateChart(sh *shared) rateChart { return rateChart{sh: sh} }

func (c rateChart) SetSize(width, height int) rateChart {
	c.width, c.height = width, height
	return c
}

// Height is the lines the chart was given; zero when it is hidden.
func (c rateChart) Height() int { return c.height }

func (c rateChart) SetOp(op metrics.OpStats, ok bool) rateChart {
	c.op, c.has = op, ok
	return c
}

func (c rateChart) View() string {
	if c.height < 4 || c.width < 20 {
		return ""
	}
	st := c.sh.styles
	name := "no op yet"
	if c.has {
		name = c.op.Name
	}
	h := c.op.History
	rate := make([]float64, len(h))
	for i, p := range h {
		rate[i] = p.OpsPerSec
	}
	title := st.Section.Render("THROUGHPUT") + " " + st.Value.Render(name) + st.Dim.Render(" (ops/s)")
	opts := plotOptions{width: c.width, height: c.height - 1, label: formatRateAxis, strokes: []asciigraph.CharSet{asciigraph.DefaultCharSet}}
	if st.Color {
		opts.colors, opts.axis = []asciigraph.AnsiColor{st.ChartRate}, st.ChartAxis
	}
	body, _, _ := plot([][]float64{rate}, opts)
	return fit(title+"\n"+body, c.width)
}

// formatRateAxis labels a throughput axis: 950, 12.5k, 1.20M.
func formatRateAxis(v float64) string {
	switch a := abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// clockOrSeconds prints a short span in seconds, a long one as a clock.
func clockOrSeconds(d time.Duration) string {
	if d < time.Minute {
		return metrics.FormatDuration(d.Round(100 * time.Millisecond))
	}
	return clock(d)
}

type plotOptions struct {
	width, height int // cells and lines of the whole plot, labels included
	strokes       []asciigraph.CharSet
	colors        []asciigraph.AnsiColor // nil: no colour
	axis          asciigraph.AnsiColor
	label         func(float64) string // y axis labels; nil: milliseconds
}

// plot is the only door to asciigraph, which panics on an empty series and
// misdraws NaN, infinities and flat series: every series is made finite
// and at least two points long, and both bounds are always set so a flat
// series still gets a y range. Series longer than the plot is wide are cut
// to their newest points. It returns the plot, how many trailing points of
// the longest series it drew and where the plot area starts (the labels'
// width), for a caption to line up with.
func plot(series [][]float64, o plotOptions) (out string, shown, indent int) {
	if o.height < 2 || o.width < 8 {
		return "", 0, 0
	}
	clean := make([][]float64, 0, max(len(series), 1))
	longest := 0
	for _, s := range series {
		clean = append(clean, finite(s))
		longest = max(longest, len(s))
	}
	if len(clean) == 0 {
		clean = append(clean, finite(nil))
	}
	label := o.label
	if label == nil {
		label = formatMs
	}
	lo, hi := bounds(clean)
	labelW := max(len(label(hi)), len(label(lo)), len(label(0.001))) + 1
	cols := max(o.width-labelW-3, 2)
	for i, s := range clean {
		if len(s) > cols {
			clean[i] = s[len(s)-cols:]
		}
	}
	lo, hi = bounds(clean)
	opts := []asciigraph.Option{
		asciigraph.Width(cols),
		asciigraph.Height(o.height - 1), // asciigraph draws height+1 rows
		asciigraph.LowerBound(lo),
		asciigraph.UpperBound(hi),
		asciigraph.Offset(3),
		asciigraph.YAxisValueFormatter(label),
	}
	if len(o.strokes) > 0 {
		opts = append(opts, asciigraph.SeriesChars(o.strokes...))
	}
	if o.colors != nil {
		opts = append(opts, asciigraph.SeriesColors(o.colors...), asciigraph.AxisColor(o.axis), asciigraph.LabelColor(o.axis))
	}
	rows := strings.Split(asciigraph.PlotMany(clean, opts...), "\n")
	if len(rows) > o.height { // rounding can add a row when the range is off zero
		rows = rows[len(rows)-o.height:]
	}
	return fit(strings.Join(rows, "\n"), o.width), min(longest, cols), labelW + 2
}

// bounds is the y range to draw: from zero or below to the highest value,
// never empty, so a flat series still has a range to sit in.
func bounds(series [][]float64) (lo, hi float64) {
	hi = math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	return lo, hi
}

// limit keeps plotted values where asciigraph's arithmetic stays finite.
const limit = 1e12

// finite returns s with NaN and infinities replaced by the last good value
// (zero at the start), every value within ±limit, and at least two points,
// since one point draws no line.
func finite(s []float64) []float64 {
	out := make([]float64, 0, max(len(s), 2))
	last := 0.0
	for _, v := range s {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			v = last
		case v > limit:
			v = limit
		case v < -limit:
			v = -limit
		}
		out = append(out, v)
		last = v
	}
	for len(out) < 2 {
		out = append(out, last)
	}
	return out
}

package tui

import (
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites/metrics"
)

// opTable is one row per op: throughput, latency figures, errors and a
// p99 trend, with a selected row whose history the chart draws. Live it
// shows the window figures; on the summary, the whole run's.
type opTable struct {
	sh            *shared
	width, height int // height counts the header line
	ops           []metrics.OpStats
	violated      []bool // by op: any baseline broken
	slow          []bool // by op: a latency baseline broken
	selected      string // op name, kept across snapshots
	total         bool   // show Total figures instead of Window
}

func newOpTable(sh *shared) opTable { return opTable{sh: sh} }

// SetSize gives the table width cells and height lines, header included.
func (t opTable) SetSize(width, height int) opTable {
	t.width, t.height = width, height
	return t
}

// ShowTotal switches between the window figures and the whole run's.
func (t opTable) ShowTotal(on bool) opTable { t.total = on; return t }

// Len is the number of ops.
func (t opTable) Len() int { return len(t.ops) }

// Selected returns the selected op, if there is one.
func (t opTable) Selected() (metrics.OpStats, bool) {
	if i := t.index(); i >= 0 {
		return t.ops[i], true
	}
	return metrics.OpStats{}, false
}

// SelectedSlow is whether the selected op broke a latency baseline.
func (t opTable) SelectedSlow() bool {
	i := t.index()
	return i >= 0 && i < len(t.slow) && t.slow[i]
}

func (t opTable) index() int {
	for i, o := range t.ops {
		if o.Name == t.selected {
			return i
		}
	}
	return -1
}

// Update takes a new snapshot and moves the selection.
func (t opTable) Update(msg tea.Msg) (opTable, tea.Cmd) {
	switch msg := msg.(type) {
	case snapshotMsg:
		s := msg.snap
		t.ops = s.Ops
		t.violated, t.slow = make([]bool, len(s.Ops)), make([]bool, len(s.Ops))
		for i, o := range s.Ops {
			t.violated[i] = s.Violated(o.OpSpec)
			t.slow[i] = latencyViolated(s.Verdicts, o.Name)
		}
		if t.index() < 0 && len(t.ops) > 0 {
			t.selected = t.ops[0].Name
		}
	case tea.KeyMsg:
		n := len(t.ops)
		if n == 0 {
			return t, nil
		}
		i := max(t.index(), 0)
		k := t.sh.keys
		switch {
		case key.Matches(msg, k.Next):
			i = (i + 1) % n
		case key.Matches(msg, k.Prev):
			i = (i + n - 1) % n
		case key.Matches(msg, k.Down):
			i = min(i+1, n-1)
		case key.Matches(msg, k.Up):
			i = max(i-1, 0)
		}
		t.selected = t.ops[i].Name
	}
	return t, nil
}

// Column widths; each figure column includes the space before it.
const (
	colMark  = 3 // selection and violation marks, a space
	colRate  = 9
	colLat   = 8
	colErr   = 6
	colGap   = 2 // before the trend
	minTrend = 5
)

type column struct {
	title string
	width int
	cell  func(f metrics.Figures) string
}

func (t opTable) columns(nameW int) ([]column, int) {
	lat := func(get func(metrics.Latency) time.Duration) func(metrics.Figures) string {
		return func(f metrics.Figures) string {
			if f.Count == 0 {
				return "–"
			}
			return metrics.FormatDuration(get(f.Latency))
		}
	}
	all := []column{
		{"ops/s", colRate, func(f metrics.Figures) string { return metrics.FormatCount(f.OpsPerSec) }},
		{"avg", colLat, lat(func(l metrics.Latency) time.Duration { return l.Avg })},
		{"p50", colLat, lat(func(l metrics.Latency) time.Duration { return l.P50 })},
		{"p99", colLat, lat(func(l metrics.Latency) time.Duration { return l.P99 })},
		{"max", colLat, lat(func(l metrics.Latency) time.Duration { return l.Max })},
		{"err", colErr, func(f metrics.Figures) string { return metrics.FormatCount(float64(f.Errors)) }},
	}
	used := func() int {
		n := colMark + nameW
		for _, c := range all {
			n += c.width
		}
		return n
	}
	if trend := t.width - used() - colGap; trend >= minTrend {
		return all, min(trend, metrics.HistoryLen)
	}
	// Too narrow for a trend: drop the figures a reader misses least.
	for _, name := range []string{"max", "p50", "avg"} {
		if used() <= t.width {
			break
		}
		for i, c := range all {
			if c.title == name {
				all = append(all[:i], all[i+1:]...)
				break
			}
		}
	}
	return all, 0
}

func (t opTable) nameWidth() int {
	w := len("op")
	for _, o := range t.ops {
		w = max(w, len(o.Name))
	}
	limit := 24
	switch {
	case t.width < 60:
		limit = 12
	case t.width < 100:
		limit = 18
	}
	return min(w, limit)
}

func (t opTable) View() string {
	st := t.sh.styles
	nameW := t.nameWidth()
	cols, trendW := t.columns(nameW)

	var b strings.Builder
	head := strings.Repeat(" ", colMark) + pad("op", nameW)
	for _, c := range cols {
		head += padLeft(c.title, c.width)
	}
	if trendW > 0 {
		head += strings.Repeat(" ", colGap) + "p99 trend"
	}
	b.WriteString(st.Dim.Render(fit(head, t.width)))
	if len(t.ops) == 0 {
		b.WriteString("\n" + st.Dim.Render(fit("  waiting for the first figures…", t.width)))
		return b.String()
	}

	// Show the rows that fit, scrolled so the selection is on screen.
	rows := max(t.height-1, 1)
	first := 0
	if sel := t.index(); sel >= rows {
		first = sel - rows + 1
	}
	for i := first; i < len(t.ops) && i < first+rows; i++ {
		o := t.ops[i]
		f := o.Window
		if t.total {
			f = o.Total
		}
		sel, bad := o.Name == t.selected, t.violated[i]
		mark := " "
		if sel {
			mark = "›"
		}
		if bad {
			mark += "✗ "
		} else {
			mark += "  "
		}
		line := mark + pad(o.Name, nameW)
		for _, c := range cols {
			line += padLeft(c.cell(f), c.width)
		}
		if trendW > 0 {
			line += strings.Repeat(" ", colGap) + sparkline(p99s(o.History), trendW)
		}
		line = fit(line, t.width)
		switch {
		case bad:
			line = st.Violation.Render(line)
		case sel:
			line = st.Selected.Render(line)
		}
		b.WriteString("\n" + line)
	}
	return b.String()
}

func p99s(h []metrics.Point) []float64 {
	out := make([]float64, len(h))
	for i, p := range h {
		out[i] = ms(p.P99)
	}
	return out
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width values of vs, scaled from their minimum
// to their maximum; a flat series sits mid-height, an all-zero one on the
// floor. Values that are not finite are drawn as a gap.
func sparkline(vs []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(vs) > width {
		vs = vs[len(vs)-width:]
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if finiteValue(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	out := make([]rune, 0, len(vs))
	for _, v := range vs {
		switch {
		case !finiteValue(v):
			out = append(out, ' ')
		case hi == lo && hi == 0:
			out = append(out, sparks[0])
		case hi == lo:
			out = append(out, sparks[3])
		default:
			i := int(math.Round((v - lo) / (hi - lo) * float64(len(sparks)-1)))
			out = append(out, sparks[min(max(i, 0), len(sparks)-1)])
		}
	}
	return string(out)
}

func finiteValue(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// latencyViolated is whether a latency baseline of op failed in verdicts:
// the chart's "over baseline", which a throughput verdict must not raise.
func latencyViolated(verdicts []metrics.Verdict, op string) bool {
	for _, v := range verdicts {
		if !v.Pass && v.Op == op && (v.Metric == metrics.MetricAvgLatency || v.Metric == metrics.MetricP99Latency) {
			return true
		}
	}
	return false
}

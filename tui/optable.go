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
// shows the window figures of the running suite's ops, and each finished
// suite folded to one line of its final figures; on the summary, every
// op's whole-run figures. Until the user picks a row, the selection
// follows the running suite's primary op.
type opTable struct {
	sh            *shared
	width, height int // height counts the header line
	rows          []opRow
	selected      string // op name, kept across snapshots
	picked        bool   // the user chose the selection: it no longer follows the running suite
	total         bool   // show Total figures instead of Window
	snap          *metrics.Snapshot
}

// opRow is one line of the table: an op, or a finished suite folded.
type opRow struct {
	op       metrics.OpStats // the op; for a folded suite, its busiest primary op
	fig      metrics.Figures // the figures shown
	folded   bool            // a finished suite on one line: its name, its final figures
	violated bool            // any baseline broken
	slow     bool            // a latency baseline broken
}

func newOpTable(sh *shared) opTable { return opTable{sh: sh} }

// SetSize gives the table width cells and height lines, header included.
func (t opTable) SetSize(width, height int) opTable {
	t.width, t.height = width, height
	return t
}

// ShowTotal switches between the live view (window figures, finished
// suites folded) and the whole run's figures, every op on its line.
func (t opTable) ShowTotal(on bool) opTable {
	if t.total != on {
		t.total = on
		t = t.build()
	}
	return t
}

// Len is the number of rows.
func (t opTable) Len() int { return len(t.rows) }

// Selected returns the selected op, if there is one; a folded suite's
// row stands for its busiest primary op.
func (t opTable) Selected() (metrics.OpStats, bool) {
	if i := t.index(); i >= 0 {
		return t.rows[i].op, true
	}
	return metrics.OpStats{}, false
}

// SelectedSlow is whether the selected op broke a latency baseline.
func (t opTable) SelectedSlow() bool {
	i := t.index()
	return i >= 0 && t.rows[i].slow
}

// index is the selected row: the selected op's, or when its suite has
// finished and folded, the suite's.
func (t opTable) index() int {
	folded := -1
	for i, r := range t.rows {
		if r.op.Name == t.selected {
			return i
		}
		if r.folded && strings.HasPrefix(t.selected, r.op.Suite+".") {
			folded = i
		}
	}
	return folded
}

// Update takes a new snapshot and moves the selection.
func (t opTable) Update(msg tea.Msg) (opTable, tea.Cmd) {
	switch msg := msg.(type) {
	case snapshotMsg:
		t.snap = msg.snap
		t = t.build()
		if !t.picked {
			if op, ok := runningPrimary(msg.snap); ok {
				t.selected = op
			}
		}
		if t.index() < 0 && len(t.rows) > 0 {
			t.selected = t.rows[0].op.Name
		}
	case tea.KeyMsg:
		n := len(t.rows)
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
		default:
			return t, nil
		}
		t.selected, t.picked = t.rows[i].op.Name, true
	}
	return t, nil
}

// runningPrimary is the running suite's first primary op with figures.
func runningPrimary(s *metrics.Snapshot) (string, bool) {
	for _, o := range s.Ops {
		if o.Suite == s.Suite && o.Primary {
			return o.Name, true
		}
	}
	return "", false
}

// build makes the rows from the latest snapshot.
func (t opTable) build() opTable {
	t.rows = nil
	s := t.snap
	if s == nil {
		return t
	}
	finished := map[string]bool{}
	if !t.total {
		for _, e := range s.SuiteEnds {
			finished[e.Suite] = e.Suite != s.Suite || s.Phase != metrics.PhaseRunning
		}
	}
	folded := map[string]int{} // suite → its row
	for _, o := range s.Ops {
		r := opRow{op: o, fig: o.Window, violated: s.Violated(o.OpSpec), slow: latencyViolated(s.Verdicts, o.Name)}
		if t.total {
			r.fig = o.Total
		}
		if !finished[o.Suite] {
			t.rows = append(t.rows, r)
			continue
		}
		// A finished suite: one line, its final figures. Throughput is the
		// suite's (its primary ops'), latency its busiest primary op's,
		// errors all its ops'.
		i, ok := folded[o.Suite]
		if !ok {
			i = len(t.rows)
			folded[o.Suite] = i
			t.rows = append(t.rows, opRow{op: o, folded: true})
		}
		f := &t.rows[i]
		f.violated = f.violated || r.violated
		errs := f.fig.Errors + o.Total.Errors
		if o.Primary {
			rate := f.fig.OpsPerSec + o.Total.OpsPerSec
			if !ok || !f.op.Primary || o.Total.Count > f.op.Total.Count {
				f.op, f.fig, f.slow = o, o.Total, r.slow
			}
			f.fig.OpsPerSec = rate
		}
		f.fig.Errors = errs
	}
	return t
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
	for _, r := range t.rows {
		w = max(w, len(r.name()))
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
	if len(t.rows) == 0 {
		b.WriteString("\n" + st.Dim.Render(fit("  waiting for the first figures…", t.width)))
		return b.String()
	}

	// Show the rows that fit, scrolled so the selection is on screen.
	rows := max(t.height-1, 1)
	first := 0
	if sel := t.index(); sel >= rows {
		first = sel - rows + 1
	}
	selected := t.index()
	for i := first; i < len(t.rows) && i < first+rows; i++ {
		r := t.rows[i]
		sel, bad := i == selected, r.violated
		mark := " "
		if sel {
			mark = "›"
		}
		switch {
		case bad:
			mark += "✗ "
		case r.folded:
			mark += "✓ "
		default:
			mark += "  "
		}
		line := mark + pad(r.name(), nameW)
		for _, c := range cols {
			line += padLeft(c.cell(r.fig), c.width)
		}
		if trendW > 0 {
			line += strings.Repeat(" ", colGap) + sparkline(p99s(r.op.History), trendW)
		}
		line = fit(line, t.width)
		switch {
		case bad:
			line = st.Violation.Render(line)
		case sel:
			line = st.Selected.Render(line)
		case r.folded:
			line = st.Dim.Render(line)
		}
		b.WriteString("\n" + line)
	}
	return b.String()
}

// name is what the row's first column says: the op, or a folded suite's
// name (its ✓ mark says it is done).
func (r opRow) name() string {
	if r.folded {
		return r.op.Suite
	}
	return r.op.Name
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

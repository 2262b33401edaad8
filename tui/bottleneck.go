package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites/metrics"
)

// bottleneckLine names what limits the run, in words: live, the verdict
// of the latest tick; on the summary, the verdict that led the most ticks
// and the worst moment.
type bottleneckLine struct {
	sh    *shared
	width int
	final bool
	now   metrics.Bottleneck
	tally metrics.BottleneckTally
}

func newBottleneckLine(sh *shared) bottleneckLine { return bottleneckLine{sh: sh} }

func (b bottleneckLine) SetWidth(w int) bottleneckLine { b.width = w; return b }

// Final switches to the run's tally.
func (b bottleneckLine) Final(on bool) bottleneckLine { b.final = on; return b }

func (b bottleneckLine) Update(msg tea.Msg) (bottleneckLine, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		b.now, b.tally = m.snap.Bottleneck, m.snap.Bottlenecks
	}
	return b, nil
}

func (b bottleneckLine) View() string {
	st := b.sh.styles
	head := st.Section.Render("BOTTLENECK") + " "
	if b.final {
		r := b.tally.Report()
		if r == nil {
			return fit(head+st.Dim.Render("not judged: no tick of load"), b.width)
		}
		most := r.Verdicts[0]
		text := fmt.Sprintf("most often %s (%.0f%% of ticks)", most.Verdict, 100*most.Share)
		if r.Worst != nil {
			text += fmt.Sprintf(" · worst at %s: %s", clock(b.tally.WorstAt), r.Worst.Line)
		}
		return fit(head+st.Value.Render(text), b.width)
	}
	switch {
	case b.now.Line == "":
		return fit(head+st.Dim.Render("judged once the load runs"), b.width)
	case b.now.Resource == metrics.ResourceNone:
		return fit(head+st.Dim.Render(b.now.Line), b.width)
	}
	return fit(head+st.Warn.Render(b.now.Line), b.width)
}

package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

// phasesLine is where the selected op's time goes, on one line: each
// phase's average, p99 and share of the op's time, and the share no phase
// covers. It shows the window's figures while the op runs and its totals
// once it has stopped. Where the line is too narrow it drops the p99s,
// then the averages, then the op's name (the table marks the selected op),
// keeping every share.
type phasesLine struct {
	sh    *shared
	width int
	op    metrics.OpStats
	ok    bool
}

func newPhasesLine(sh *shared) phasesLine { return phasesLine{sh: sh} }

func (p phasesLine) SetWidth(w int) phasesLine {
	p.width = w
	return p
}

// SetOp shows op's phases; ok false shows none.
func (p phasesLine) SetOp(op metrics.OpStats, ok bool) phasesLine {
	p.op, p.ok = op, ok
	return p
}

// Phase detail levels, fullest first.
const (
	phasesFull   = iota // name avg/p99 share
	phasesAvg           // name avg share
	phasesShares        // name share
	phasesBare          // name share, without the op's name (the table marks it)
)

func (p phasesLine) View() string {
	st := p.sh.styles
	head := st.Section.Render("PHASES") + " "
	if !p.ok {
		return fit(head+st.Dim.Render("no op selected"), p.width)
	}
	if len(p.op.Phases) == 0 {
		return fit(head+p.op.Name+st.Dim.Render(" · no phases timed"), p.width)
	}
	var line string
	for level := phasesFull; level <= phasesBare; level++ {
		name := p.op.Name + "  "
		if level == phasesBare {
			name = ""
		}
		line = head + name + p.parts(level)
		if p.width <= 0 || lipgloss.Width(line) <= p.width {
			break
		}
	}
	return fit(line, p.width)
}

// parts renders each phase, and the rest, at a detail level.
func (p phasesLine) parts(level int) string {
	st := p.sh.styles
	op := p.op.Window
	pick := func(w, t metrics.Figures) metrics.Figures { return w }
	if op.Count == 0 {
		op = p.op.Total
		pick = func(w, t metrics.Figures) metrics.Figures { return t }
	}
	covered := 0.0
	out := make([]string, 0, len(p.op.Phases)+1)
	for _, ph := range p.op.Phases {
		f := pick(ph.Window, ph.Total)
		share := metrics.PhaseShare(f, op)
		covered += share
		var s string
		switch level {
		case phasesFull:
			s = fmt.Sprintf("%s %s/%s %.0f%%", ph.Name, metrics.FormatDuration(f.Latency.Avg), metrics.FormatDuration(f.Latency.P99), 100*share)
		case phasesAvg:
			s = fmt.Sprintf("%s %s %.0f%%", ph.Name, metrics.FormatDuration(f.Latency.Avg), 100*share)
		default:
			s = fmt.Sprintf("%s %.0f%%", ph.Name, 100*share)
		}
		out = append(out, s)
	}
	if rest := 1 - covered; op.Count > 0 && rest > 0.005 {
		out = append(out, st.Dim.Render(fmt.Sprintf("other %.0f%%", 100*rest)))
	}
	return strings.Join(out, st.Dim.Render(" · "))
}

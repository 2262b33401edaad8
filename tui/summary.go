package tui

import (
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites/metrics"
)

// summary is the end of a run: the outcome and every baseline's verdict
// over the whole run. The op table above it shows the final figures.
type summary struct {
	sh            *shared
	width, height int
	snap          *metrics.Snapshot
	report        *metrics.Report // nil until the runner has returned
	err           error           // why the run failed
}

func newSummary(sh *shared) summary { return summary{sh: sh} }

func (s summary) SetSize(width, height int) summary {
	s.width, s.height = width, height
	return s
}

// Report is the final report, nil until the runner has returned (or when
// the run failed before it began).
func (s summary) Report() *metrics.Report { return s.report }

// SetResult records what the runner returned.
func (s summary) SetResult(r *metrics.Report, err error) summary {
	s.report, s.err = r, err
	return s
}

func (s summary) Update(msg tea.Msg) (summary, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		s.snap = m.snap
	}
	return s, nil
}

// Height is how many lines View takes, within the height given.
func (s summary) Height() int { return lines(s.View()) }

func (s summary) View() string {
	st := s.sh.styles
	hint := st.Dim.Render("q quits · r sets up a new run · e exports the report · s saves the settings as a profile")
	r := s.report
	if r == nil {
		return fit(st.Section.Render("RESULT")+" "+st.Warn.Render("finishing…"), s.width)
	}
	var outcome string
	switch {
	case r.ChecksFailed():
		outcome = st.Violation.Render("FAIL: a correctness check failed")
	case r.Error != "":
		outcome = st.Violation.Render("FAILED: " + oneLine(r.Error))
	case s.err != nil:
		outcome = st.Violation.Render("FAILED: " + oneLine(s.err.Error()))
	case !r.Passed():
		outcome = st.Violation.Render("FAIL: a baseline was violated")
	default:
		outcome = st.Recovered.Render("PASS: every baseline held")
	}
	outcome += st.Dim.Render(" after " + strconv.FormatFloat(r.ElapsedSeconds, 'f', 1, 64) + "s of load")
	if r.Interrupted {
		outcome += " " + st.Warn.Render("(interrupted: partial run)")
	}
	out := []string{st.Section.Render("RESULT") + " " + outcome}

	room := s.height - 2 // the result line and the hint
	for i, b := range r.Baselines {
		if room <= 0 {
			break
		}
		if room == 1 && i < len(r.Baselines)-1 {
			out = append(out, st.Dim.Render("  … "+strconv.Itoa(len(r.Baselines)-i)+" more baselines in the report"))
			break
		}
		line := "  PASS " + metrics.Verdict(b).Describe()
		if b.Pass {
			line = st.Recovered.Render(fit(line, s.width))
		} else {
			line = st.Violation.Render(fit("  FAIL "+metrics.Verdict(b).Describe(), s.width))
		}
		out = append(out, line)
		room--
	}
	out = append(out, hint)
	return fit(strings.Join(out, "\n"), s.width)
}

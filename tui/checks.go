package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites/metrics"
)

// checksLine is the correctness checks of the suites that have ended, on
// one line: each check's verdict, red when one is violated. The detail
// (which account, which key, where its visualisation went) is in the
// event log and the report.
type checksLine struct {
	sh     *shared
	width  int
	checks []metrics.Check
}

func newChecksLine(sh *shared) checksLine { return checksLine{sh: sh} }

func (c checksLine) SetWidth(w int) checksLine {
	c.width = w
	return c
}

func (c checksLine) Update(msg tea.Msg) (checksLine, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		c.checks = m.snap.Checks // shared, never written: snapshots are immutable
	}
	return c, nil
}

func (c checksLine) View() string {
	st := c.sh.styles
	head := st.Section.Render("CHECKS") + " "
	if len(c.checks) == 0 {
		return fit(head+st.Dim.Render("none yet"), c.width)
	}
	parts := make([]string, 0, len(c.checks))
	for _, ch := range c.checks {
		text := ch.Suite + "." + ch.Name + " " + string(ch.Verdict)
		switch ch.Verdict {
		case metrics.CheckViolated:
			parts = append(parts, st.Violation.Render("✗ "+text))
		case metrics.CheckUnknown:
			parts = append(parts, st.Warn.Render("? "+text))
		default:
			parts = append(parts, st.Recovered.Render("✓ "+text))
		}
	}
	return fit(head+strings.Join(parts, "  "), c.width)
}

package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

// The breakdown keeps every phase's share on one line however narrow the
// terminal, dropping p99s and then averages to fit, and shows the p99s
// where there is room.
func TestPhasesLineFits(t *testing.T) {
	op := fixture().Ops[0]
	for _, tc := range []struct {
		width int
		has   []string
	}{
		{160, []string{"consensus.submit  queue 20.0µs/150µs 7%", "replicate+commit 170µs/1.20ms 61%", "apply 40.0µs/300µs 14%", "other 16%"}},
		{80, []string{"queue", "append", "replicate+commit", "apply", "61%", "other 16%"}},
		{60, []string{"queue 7%"}},
		{120, []string{"consensus.submit  queue 20.0µs 7%", "other 16%"}},
	} {
		p := newPhasesLine(&shared{styles: newStyles(lipgloss.DefaultRenderer())}).SetWidth(tc.width).SetOp(op, true)
		v := p.View()
		if strings.Contains(v, "\n") || lipgloss.Width(v) > tc.width {
			t.Errorf("width %d: %q is %d wide", tc.width, v, lipgloss.Width(v))
		}
		for _, s := range tc.has {
			if !strings.Contains(v, s) {
				t.Errorf("width %d: %q lacks %q", tc.width, v, s)
			}
		}
	}
	bare := newPhasesLine(&shared{styles: newStyles(lipgloss.DefaultRenderer())}).SetWidth(80).SetOp(metrics.OpStats{OpSpec: metrics.OpSpec{Name: "cluster.status"}}, true)
	if v := bare.View(); !strings.Contains(v, "cluster.status · no phases timed") {
		t.Errorf("an op without phases: %q", v)
	}
}

package tui

import (
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites/metrics"
)

// gauges shows the machine and the phantom process: CPU, memory, network
// and disk. A counter the machine does not offer reads n/a, never 0.
type gauges struct {
	sh    *shared
	width int
	sys   metrics.System
}

func newGauges(sh *shared) gauges { return gauges{sh: sh} }

func (g gauges) SetSize(width int) gauges { g.width = width; return g }

// wide is the width from which the gauges fit one line with bars.
const gaugesWide = 130

// Height is how many lines View takes at the current width.
func (g gauges) Height() int {
	if g.width >= gaugesWide {
		return 1
	}
	return 2
}

func (g gauges) Update(msg tea.Msg) (gauges, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		g.sys = m.snap.System
	}
	return g, nil
}

func (g gauges) View() string {
	st := g.sh.styles
	s := g.sys
	wide := g.width >= gaugesWide
	na := st.Dim.Render("n/a")
	pct := func(v metrics.Gauge) string {
		if !v.OK {
			return na
		}
		out := st.Value.Render(strconv.FormatFloat(v.Value, 'f', 0, 64) + "%")
		if wide {
			out = bar(v.Value/100, 10) + " " + out
		}
		return out
	}
	bytes := func(v metrics.Gauge, unit string) string {
		if !v.OK {
			return na
		}
		return st.Value.Render(metrics.FormatBytes(v.Value) + unit)
	}
	mem := st.Label.Render("MEM") + " rss " + bytes(s.RSS, "")
	if s.MemUsed.OK && s.MemTotal.OK && s.MemTotal.Value > 0 {
		frac := s.MemUsed.Value / s.MemTotal.Value
		used := metrics.FormatBytes(s.MemUsed.Value) + "/" + metrics.FormatBytes(s.MemTotal.Value)
		if wide {
			used = bar(frac, 10) + " " + used
		}
		mem += " · used " + st.Value.Render(used)
	} else {
		mem += " · used " + na
	}
	cpu := []string{
		st.Label.Render("CPU") + " " + pct(s.CPU),
		st.Label.Render("phantom") + " " + pct(s.ProcessCPU),
		mem,
	}
	io := []string{
		st.Label.Render("NET") + " ↓" + bytes(s.NetRx, "/s") + " ↑" + bytes(s.NetTx, "/s"),
		st.Label.Render("DISK") + " r " + bytes(s.DiskRead, "/s") + " w " + bytes(s.DiskWrite, "/s"),
	}
	if wide {
		return fit(strings.Join(append(cpu, io...), "   "), g.width)
	}
	return fit(strings.Join(cpu, "  ")+"\n"+strings.Join(io, "  "), g.width)
}

var eighths = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// bar draws frac (0…1) as width cells of blocks, in eighths.
func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac*float64(width*8) + 0.5)
	full, part := n/8, n%8
	s := strings.Repeat("█", full) + eighths[part]
	return "[" + pad(s, width) + "]"
}

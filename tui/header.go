package tui

import (
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

// header is the top line: the profile, the suite running, the clock and
// the phase.
type header struct {
	sh       *shared
	width    int
	profile  string
	snap     *metrics.Snapshot // nil on the setup screen
	stopping bool              // the user asked to stop; the runner has not returned yet
}

func newHeader(sh *shared, profile string) header { return header{sh: sh, profile: profile} }

func (h header) SetSize(width int) header { h.width = width; return h }

// SetProfile names the profile the settings started from.
func (h header) SetProfile(name string) header { h.profile = name; return h }

// SetStopping says whether the user has asked the run to stop.
func (h header) SetStopping(on bool) header { h.stopping = on; return h }

// Setup is the header back on the setup screen: no run's figures.
func (h header) Setup() header { h.snap = nil; return h }

func (h header) Update(msg tea.Msg) (header, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		h.snap = m.snap
	}
	return h, nil
}

func (h header) View() string {
	st := h.sh.styles
	sep := st.Dim.Render(" · ")
	parts := []string{st.App.Render("phantom"), "profile " + h.profile}
	if h.snap == nil {
		parts = append(parts, st.Header.Render("setup"))
		return fit(strings.Join(parts, sep), h.width)
	}
	s := h.snap
	if s.Suite != "" {
		parts = append(parts, "suite "+st.Value.Render(s.Suite))
	}
	phase := strings.ToUpper(string(s.Phase))
	style, ok := st.Phase[string(s.Phase)]
	if !ok {
		style = st.Header
	}
	switch {
	case h.stopping && s.Phase != metrics.PhaseDone && s.Phase != metrics.PhaseFailed:
		phase, style = "STOPPING…", st.Phase[string(metrics.PhaseStopping)]
	case s.Paused && s.Phase == metrics.PhaseRunning:
		phase, style = "PAUSED", st.Phase["paused"]
	}
	if s.Phase != metrics.PhaseStarting {
		parts = append(parts, "epoch "+st.Value.Render(strconv.Itoa(len(s.Epochs)+1)))
	}
	// A stall shows within a tick: ops that have waited over a second.
	if f := s.InFlight; f.Waiting > 0 && s.Phase == metrics.PhaseRunning {
		parts = append(parts, st.Warn.Render("⚠ "+strconv.Itoa(f.Waiting)+" waiting "+metrics.FormatDuration(f.Oldest)))
	}
	// The clock and the phase matter most: on a narrow screen the names
	// before them give way.
	left := strings.Join(parts, sep)
	right := st.Value.Render(clock(s.Elapsed)) + " / " + clock(s.Planned) + sep + style.Render(phase)
	if room := h.width - lipgloss.Width(right) - lipgloss.Width(sep); h.width > 0 && lipgloss.Width(left) > room {
		left = fit(left, max(room, 1))
	}
	return fit(left+sep+right, h.width)
}

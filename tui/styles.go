package tui

import (
	"strconv"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/guptarohit/asciigraph"
	"github.com/muesli/termenv"
)

// The palette is fixed ANSI colours, never adaptive ones: an adaptive
// colour makes lipgloss query the terminal's background, and the reply can
// land in the input stream. The 16 basic colours follow the user's terminal
// theme, so they read on dark and light backgrounds alike.
//
// NO_COLOR needs no code here: lipgloss asks termenv for the colour profile
// with EnvColorProfile, which returns the Ascii profile when NO_COLOR is set,
// and under Ascii every style renders plain text (no colour, no bold). The
// chart is the one thing drawn outside lipgloss, so it gets colours only
// when Styles.Color says the profile has them.
const (
	ansiRed     = 9
	ansiGreen   = 10
	ansiYellow  = 11
	ansiBlue    = 12
	ansiMagenta = 13
	ansiCyan    = 14
	ansiGray    = 8
)

func paint(n int) lipgloss.Color { return lipgloss.Color(strconv.Itoa(n)) }

// Styles is every look the TUI has.
type Styles struct {
	// Color is whether the renderer emits colour at all.
	Color bool

	App       lipgloss.Style // the brand in the header
	Header    lipgloss.Style // the rest of the header line
	Section   lipgloss.Style // section titles: SUITES, TUNING, CLUSTER…
	Label     lipgloss.Style // a gauge's name
	Value     lipgloss.Style // a figure worth reading
	Dim       lipgloss.Style // secondary text
	Selected  lipgloss.Style // the focused row
	Violation lipgloss.Style // a baseline crossed, a node down, a failure
	Recovered lipgloss.Style // a baseline holding again, a pass
	Warn      lipgloss.Style // waiting, stopping, no leader
	Error     lipgloss.Style // the setup screen's error line
	Overlay   lipgloss.Style // the help box

	Phase map[string]lipgloss.Style // by metrics.Phase

	// The chart's legend, in its series' colours.
	P99, P50 lipgloss.Style
	// Chart series colours, for asciigraph, which writes its own escapes.
	ChartP99, ChartP50, ChartBaseline, ChartRate, ChartAxis asciigraph.AnsiColor

	Help help.Styles
}

// newStyles builds the styles for one renderer (the default one in the
// program, a NO_COLOR one in tests).
func newStyles(r *lipgloss.Renderer) Styles {
	s := func() lipgloss.Style { return r.NewStyle() }
	st := Styles{
		Color:     r.ColorProfile() != termenv.Ascii,
		App:       s().Bold(true).Foreground(paint(ansiCyan)),
		Header:    s().Bold(true),
		Section:   s().Bold(true).Foreground(paint(ansiBlue)),
		Label:     s().Foreground(paint(ansiCyan)),
		Value:     s().Bold(true),
		Dim:       s().Foreground(paint(ansiGray)),
		Selected:  s().Bold(true).Foreground(paint(ansiMagenta)),
		Violation: s().Foreground(paint(ansiRed)),
		Recovered: s().Foreground(paint(ansiGreen)),
		Warn:      s().Foreground(paint(ansiYellow)),
		Error:     s().Bold(true).Foreground(paint(ansiRed)),
		Overlay:   s().Border(lipgloss.RoundedBorder()).BorderForeground(paint(ansiBlue)).Padding(0, 1),
		Phase: map[string]lipgloss.Style{
			"starting": s().Bold(true).Foreground(paint(ansiYellow)),
			"running":  s().Bold(true).Foreground(paint(ansiGreen)),
			"stopping": s().Bold(true).Foreground(paint(ansiYellow)),
			"paused":   s().Bold(true).Foreground(paint(ansiYellow)),
			"done":     s().Bold(true).Foreground(paint(ansiBlue)),
			"failed":   s().Bold(true).Foreground(paint(ansiRed)),
		},
		P99:           s().Foreground(paint(ansiMagenta)),
		P50:           s().Foreground(paint(ansiCyan)),
		ChartP99:      asciigraph.AnsiColor(ansiMagenta),
		ChartP50:      asciigraph.AnsiColor(ansiCyan),
		ChartBaseline: asciigraph.AnsiColor(ansiRed),
		ChartRate:     asciigraph.AnsiColor(ansiGreen),
		ChartAxis:     asciigraph.AnsiColor(ansiGray),
	}
	key := s().Foreground(paint(ansiCyan))
	desc := s()
	sep := s().Foreground(paint(ansiGray))
	st.Help = help.Styles{
		Ellipsis: sep, ShortKey: key, ShortDesc: desc, ShortSeparator: sep,
		FullKey: key, FullDesc: desc, FullSeparator: sep,
	}
	return st
}

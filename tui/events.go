package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

// eventLog is the newest events, oldest at the top: violations in red,
// recoveries in green.
type eventLog struct {
	sh            *shared
	width, height int
	events        []metrics.Event
}

func newEventLog(sh *shared) eventLog { return eventLog{sh: sh} }

func (e eventLog) SetSize(width, height int) eventLog {
	e.width, e.height = width, height
	return e
}

func (e eventLog) Update(msg tea.Msg) (eventLog, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		e.events = m.snap.Events // shared, never written: snapshots are immutable
	}
	return e, nil
}

func (e eventLog) View() string {
	if e.height <= 0 {
		return ""
	}
	st := e.sh.styles
	if len(e.events) == 0 {
		return fit(st.Section.Render("EVENTS")+" "+st.Dim.Render("none yet"), e.width)
	}
	evs := e.events
	if len(evs) > e.height {
		evs = evs[len(evs)-e.height:]
	}
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		mark, style, plain := eventMark(st, ev.Kind)
		line := fit(clock(ev.At)+" "+mark+" "+oneLine(ev.Message), e.width)
		if plain {
			out = append(out, line)
		} else {
			out = append(out, style.Render(line))
		}
	}
	return strings.Join(out, "\n")
}

// oneLine keeps a message that spans lines on one.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

// eventMark is how an event of kind shows: its mark, its style and
// whether it is plain text. Violations and errors are red, recoveries
// green, faults yellow; elections, membership changes and epochs carry a
// mark of their own.
func eventMark(st Styles, kind metrics.EventKind) (string, lipgloss.Style, bool) {
	switch kind {
	case metrics.EventViolation:
		return "✗", st.Violation, false
	case metrics.EventRecovered:
		return "✓", st.Recovered, false
	case metrics.EventError:
		return "!", st.Violation, false
	case metrics.EventFault:
		return "↯", st.Warn, false
	case metrics.EventElection:
		return "★", st.Label, false
	case metrics.EventMembership:
		return "±", st.Label, false
	case metrics.EventEpoch:
		return "▸", st.Selected, false
	}
	return "·", st.Dim, true
}

package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"

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
		mark, style := "·", st.Dim
		switch ev.Kind {
		case metrics.EventViolation:
			mark, style = "✗", st.Violation
		case metrics.EventRecovered:
			mark, style = "✓", st.Recovered
		case metrics.EventError:
			mark, style = "!", st.Violation
		}
		line := fit(clock(ev.At)+" "+mark+" "+oneLine(ev.Message), e.width)
		if ev.Kind == metrics.EventInfo {
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

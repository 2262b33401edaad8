package tui

import (
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

// eventLog is the newest events, oldest at the top: the run's, and the
// UI's own notes of actions the run refused, in time order.
type eventLog struct {
	sh            *shared
	width, height int
	events        []metrics.Event // the run's
	notes         []metrics.Event // the UI's
	at            time.Duration   // the run's clock at the latest snapshot
}

func newEventLog(sh *shared) eventLog { return eventLog{sh: sh} }

func (e eventLog) SetSize(width, height int) eventLog {
	e.width, e.height = width, height
	return e
}

// Reset is the log for a new run: no events, no notes from a run before,
// the size as it was.
func (e eventLog) Reset() eventLog {
	return newEventLog(e.sh).SetSize(e.width, e.height)
}

func (e eventLog) Update(msg tea.Msg) (eventLog, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		e.events = m.snap.Events // shared, never written: snapshots are immutable
		e.at = m.snap.Elapsed
	}
	return e, nil
}

// Note adds the UI's own event, stamped with the run's clock.
func (e eventLog) Note(kind metrics.EventKind, msg string) eventLog {
	e.notes = append(e.notes[:len(e.notes):len(e.notes)], metrics.Event{At: e.at, Kind: kind, Message: msg})
	return e
}

// last is the newest n events of the run and the notes together, oldest
// first.
func (e eventLog) last(n int) []metrics.Event {
	a, b := e.events, e.notes
	out := make([]metrics.Event, 0, min(n, len(a)+len(b)))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		// Walk back from the newest; a note goes after run events of
		// the same instant, as it answered them.
		if len(b) == 0 || len(a) > 0 && a[len(a)-1].At > b[len(b)-1].At {
			out, a = append(out, a[len(a)-1]), a[:len(a)-1]
		} else {
			out, b = append(out, b[len(b)-1]), b[:len(b)-1]
		}
	}
	slices.Reverse(out)
	return out
}

func (e eventLog) View() string {
	if e.height <= 0 {
		return ""
	}
	st := e.sh.styles
	if len(e.events)+len(e.notes) == 0 {
		return fit(st.Section.Render("EVENTS")+" "+st.Dim.Render("none yet"), e.width)
	}
	evs := e.last(e.height)
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

package tui

import "time"

// The footer's notices: one line answering the user's last action, live
// control's and save's and export's alike.

// noticeFor is how long a notice stays in the footer during a run.
const noticeFor = 4 * time.Second

// notice is a one-line answer to the user's last action.
type notice struct {
	text string
	bad  bool
	at   time.Time
}

func (m *model) say(text string, bad bool) { m.notice = notice{text: text, bad: bad, at: m.now} }

// noticeView is the current notice, "" when there is none or it is stale.
func (m model) noticeView() string {
	n := m.notice
	if n.text == "" || (m.screen == screenDashboard && m.now.Sub(n.at) > noticeFor) {
		return ""
	}
	st := m.sh.styles
	if n.bad {
		return st.Violation.Render("✗ " + n.text)
	}
	return st.Recovered.Render("✓ " + n.text)
}

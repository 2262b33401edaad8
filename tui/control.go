package tui

import (
	"context"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Live control: the dashboard's knobs and fault keys become runner
// actions. A knob moved with ←/→ settles for a moment before it is applied,
// so stepping clients from 8 to 64 opens one epoch, not four; enter or a
// typed value applies at once.

// settle is how long a retuned knob waits for the next key before it is
// applied.
const settle = 600 * time.Millisecond

// controlTimeout bounds one action: adding nodes and killing leaders go on
// in the background, so every action returns well within it.
const controlTimeout = 10 * time.Second

// noticeFor is how long a notice stays in the footer during a run.
const noticeFor = 4 * time.Second

// notice is a one-line answer to the user's last action.
type notice struct {
	text string
	bad  bool
	at   time.Time
}

// controlDoneMsg is an action's outcome. knob is the knob it applied (-1
// for a fault), prev the value the run had before.
type controlDoneMsg struct {
	run    int
	action suites.Action
	knob   int
	prev   int64
	err    error
}

// savedMsg and exportedMsg are the outcomes of the save and export keys.
type savedMsg struct {
	name, path string
	err        error
}

type exportedMsg struct {
	paths []string
	err   error
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

func (m model) onDashboardKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.sh.keys
	switch {
	case key.Matches(msg, k.Up, k.Down):
		m.table, _ = m.table.Update(msg)
		return m.syncChart(), nil
	case m.finished || m.stopping:
		return m, nil
	case key.Matches(msg, k.Next):
		m.tuning = m.tuning.move(+1)
	case key.Matches(msg, k.Prev):
		m.tuning = m.tuning.move(-1)
	case key.Matches(msg, k.Start):
		return m.applyPending()
	case key.Matches(msg, k.Pause):
		verb := suites.VerbPause
		if m.paused {
			verb = suites.VerbResume
		}
		m.paused = !m.paused // until the next snapshot says so
		return m, m.control(suites.Action{Verb: verb}, -1, 0)
	case key.Matches(msg, k.Kill):
		return m.fault(suites.Action{Verb: suites.VerbKillLeader}, "killing a shard leader")
	case key.Matches(msg, k.Partition):
		return m.fault(suites.Action{Verb: suites.VerbPartition}, "partitioning a node")
	case key.Matches(msg, k.Heal):
		return m.fault(suites.Action{Verb: suites.VerbHeal}, "healing partitions")
	case key.Matches(msg, k.Crash):
		return m.fault(suites.Action{Verb: suites.VerbCrash}, "crashing a node")
	case key.Matches(msg, k.Restart):
		return m.fault(suites.Action{Verb: suites.VerbRestart}, "restarting crashed nodes")
	case key.Matches(msg, k.Delay):
		d := &m.tuning.knobs[knobNetDelay]
		d.value = nextDelay(d.value)
		return m.applyPending()
	default:
		return m.retune(msg)
	}
	return m, nil
}

// faultDelays are the steps of the delay key, wrapping to none.
var faultDelays = []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond}

func nextDelay(v int64) int64 {
	for _, d := range faultDelays {
		if int64(d) > v {
			return int64(d)
		}
	}
	return 0
}

// fault sends a fault action; its outcome comes back as a notice and the
// runner's events say what it did.
func (m model) fault(a suites.Action, doing string) (tea.Model, tea.Cmd) {
	m.say(doing+"…", false)
	return m, m.control(a, -1, 0)
}

// retune hands a key to the tuning panel. On the dashboard a knob moved
// with ←/→ is applied once it settles; a typed value at once.
func (m model) retune(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	wasEditing := m.tuning.Editing()
	m.tuning, _ = m.tuning.Update(msg)
	if m.screen != screenDashboard {
		return m.layout(), nil
	}
	if wasEditing && !m.tuning.Editing() && msg.Type == tea.KeyEnter {
		return m.applyPending()
	}
	m.pendAt = m.now
	return m, nil
}

// applySettled applies the knobs once they have been left alone for
// settle; the tick calls it.
func (m model) applySettled() (model, tea.Cmd) {
	if m.tuning.Editing() || m.now.Sub(m.pendAt) < settle {
		return m, nil
	}
	next, cmd := m.applyPending()
	return next.(model), cmd
}

// applyPending sends every knob whose value the run does not have yet.
func (m model) applyPending() (tea.Model, tea.Cmd) {
	if m.run == nil || m.finished || m.stopping {
		return m, nil
	}
	var cmds []tea.Cmd
	for i := range m.tuning.knobs {
		k := &m.tuning.knobs[i]
		if !k.pending() {
			continue
		}
		a, why := knobAction(i, *k, m.runCfg)
		if why != "" {
			k.value = k.applied
			m.say(why, true)
			continue
		}
		prev := k.applied
		k.applied = k.value
		cmds = append(cmds, m.control(a, i, prev))
	}
	return m, tea.Batch(cmds...)
}

// knobAction is the action that gives a run knob i's value, or why the
// run cannot take it.
func knobAction(i int, k knob, run suites.Config) (suites.Action, string) {
	switch i {
	case knobNodes:
		return suites.Action{Verb: suites.VerbNodes, Count: int(k.value)}, ""
	case knobClients:
		return suites.Action{Verb: suites.VerbClients, Count: int(k.value)}, ""
	case knobDuration:
		return suites.Action{Verb: suites.VerbDuration, Delay: time.Duration(k.value)}, ""
	case knobDataSize:
		return suites.Action{Verb: suites.VerbDataSize, Size: int(k.value)}, ""
	case knobRate:
		if run.Rate == 0 {
			return suites.Action{}, "this run is closed-loop; choose a rate on the setup screen for an open loop"
		}
		if k.value == 0 {
			return suites.Action{}, "an open-loop run keeps a rate; it cannot turn into a closed loop"
		}
		return suites.Action{Verb: suites.VerbRate, Rate: float64(k.value)}, ""
	case knobNetDelay:
		return suites.Action{Verb: suites.VerbNetDelay, Delay: time.Duration(k.value)}, ""
	}
	return suites.Action{}, "this setting cannot change during a run"
}

// control is the command that applies a to the run.
func (m model) control(a suites.Action, knob int, prev int64) tea.Cmd {
	if m.run == nil {
		return nil
	}
	r, id := m.run.runner, m.run.id
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
		defer cancel()
		return controlDoneMsg{run: id, action: a, knob: knob, prev: prev, err: r.Control(ctx, a)}
	}
}

func (m model) onControlDone(msg controlDoneMsg) model {
	if m.run == nil || msg.run != m.run.id {
		return m
	}
	if msg.err == nil {
		m.say(msg.action.String(), false)
		return m
	}
	if msg.knob >= 0 {
		// The run kept its value: the knob shows it again, unless the
		// user has moved on to another value meanwhile.
		k, sent := &m.tuning.knobs[msg.knob], knobValue(msg.action)
		if k.applied == sent {
			k.applied = msg.prev
			if k.value == sent {
				k.value = msg.prev
			}
		}
	}
	if msg.action.Verb == suites.VerbPause || msg.action.Verb == suites.VerbResume {
		m.paused = m.run.runner.Latest().Paused
	}
	m.say(msg.action.String()+": "+oneLine(msg.err.Error()), true)
	m.events = m.events.Note(metrics.EventError, "refused "+msg.action.String()+": "+oneLine(msg.err.Error()))
	return m
}

// knobValue is the knob value an action sets.
func knobValue(a suites.Action) int64 {
	switch a.Verb {
	case suites.VerbNodes, suites.VerbClients:
		return int64(a.Count)
	case suites.VerbDataSize:
		return int64(a.Size)
	case suites.VerbRate:
		return int64(a.Rate)
	}
	return int64(a.Delay)
}

// exportReport writes the report: the run so far while it goes on, the
// final one on the summary. Building and writing it happen in the
// command, off the UI's goroutine.
func (m model) exportReport() (tea.Model, tea.Cmd) {
	if m.d.export == nil {
		return m, nil
	}
	final, r := m.summary.report, m.run.runner
	if m.finished && final == nil {
		m.say("no report: the run failed before it began", true)
		return m, nil
	}
	export := m.d.export
	m.say("writing the report…", false)
	return m, func() tea.Msg {
		report := final
		if report == nil {
			report = r.Report()
		}
		paths, err := export(report)
		return exportedMsg{paths: paths, err: err}
	}
}

func (m model) onExported(msg exportedMsg) model {
	if msg.err != nil {
		m.say("export failed: "+oneLine(msg.err.Error()), true)
		return m
	}
	m.say("report written: "+strings.Join(msg.paths, ", "), false)
	return m
}

// askSave opens the name prompt for saving the settings as a profile.
func (m model) askSave() (tea.Model, tea.Cmd) {
	if m.d.save == nil {
		return m, nil
	}
	name := m.tuning.profile()
	if name == "custom" || m.screen != screenSetup {
		name += "-tuned"
	}
	var cmd tea.Cmd
	m.prompt, cmd = m.prompt.Open("save these settings as profile", name)
	return m, cmd
}

func (m model) onPromptKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.Type {
	case tea.KeyEsc:
		m.prompt = m.prompt.Close()
		return m, nil
	case tea.KeyEnter:
		name := strings.TrimSpace(m.prompt.Value())
		if why := badProfileName(name); why != "" {
			m.prompt = m.prompt.Refuse(why)
			return m, nil
		}
		m.prompt = m.prompt.Close()
		cfg, save := m.config(), m.d.save
		return m, func() tea.Msg {
			path, err := save(name, cfg)
			return savedMsg{name: name, path: path, err: err}
		}
	}
	var cmd tea.Cmd
	m.prompt, cmd = m.prompt.Update(msg)
	return m, cmd
}

// badProfileName says what is wrong with a profile name, "" when nothing.
func badProfileName(name string) string {
	if name == "" {
		return "give the profile a name"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "a name takes letters, digits, - _ and . only"
		}
	}
	return ""
}

func (m model) onSaved(msg savedMsg) model {
	if msg.err != nil {
		m.say("saving profile "+msg.name+" failed: "+oneLine(msg.err.Error()), true)
		return m
	}
	m.say("saved profile "+msg.name+" to "+msg.path, false)
	return m
}

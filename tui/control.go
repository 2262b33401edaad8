package tui

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/profiles/knob"
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

// controlDoneMsg is an action's outcome. knob is the knob it applied (-1
// for a fault), prev the value the run had before.
type controlDoneMsg struct {
	run    int
	action knob.Action
	knob   int
	prev   int64
	err    error
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
		m.tuning = m.tuning.Cycle(+1)
	case key.Matches(msg, k.Prev):
		m.tuning = m.tuning.Cycle(-1)
	case key.Matches(msg, k.Start):
		return m.applyPending()
	case key.Matches(msg, k.Pause):
		verb := knob.VerbPause
		if m.paused {
			verb = knob.VerbResume
		}
		m.paused = !m.paused // until the next snapshot says so
		return m, m.control(knob.Action{Verb: verb}, -1, 0)
	case key.Matches(msg, k.Kill):
		return m.fault(knob.Action{Verb: knob.VerbKillLeader}, "killing a shard leader")
	case key.Matches(msg, k.Partition):
		return m.fault(knob.Action{Verb: knob.VerbPartition}, "partitioning a node")
	case key.Matches(msg, k.Heal):
		return m.fault(knob.Action{Verb: knob.VerbHeal}, "healing partitions")
	case key.Matches(msg, k.Crash):
		return m.fault(knob.Action{Verb: knob.VerbCrash}, "crashing a node")
	case key.Matches(msg, k.Restart):
		return m.fault(knob.Action{Verb: knob.VerbRestart}, "restarting crashed nodes")
	case key.Matches(msg, k.Delay):
		m.tuning = m.tuning.Set(knobNetDelay, nextDelay(m.tuning.Value(knobNetDelay)))
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
func (m model) fault(a knob.Action, doing string) (tea.Model, tea.Cmd) {
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
	var sends []retune
	var why string
	m.tuning, sends, why = m.tuning.MarkSent(m.runCfg)
	if why != "" {
		m.say(why, true)
	}
	var cmds []tea.Cmd
	for _, s := range sends {
		cmds = append(cmds, m.control(s.action, s.knob, s.prev))
	}
	return m, tea.Batch(cmds...)
}

// control is the command that applies a to the run.
func (m model) control(a knob.Action, knob int, prev int64) tea.Cmd {
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
		m.tuning = m.tuning.Revert(msg.knob, msg.action, msg.prev)
	}
	if msg.action.Verb == knob.VerbPause || msg.action.Verb == knob.VerbResume {
		m.paused = m.run.runner.Latest().Paused
	}
	m.say(msg.action.String()+": "+oneLine(msg.err.Error()), true)
	m.events = m.events.Note(metrics.EventError, "refused "+msg.action.String()+": "+oneLine(msg.err.Error()))
	return m
}

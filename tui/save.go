package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/profiles"
)

// Saving the settings as a profile, through the name prompt, and
// exporting the report: each runs its writing in a command, off the UI's
// goroutine, and answers with a notice.

// savedMsg and exportedMsg are the outcomes of the save and export keys.
type savedMsg struct {
	name, path string
	err        error
}

type exportedMsg struct {
	paths []string
	err   error
}

// exportReport writes the report: the run so far while it goes on, the
// final one on the summary. Building and writing it happen in the
// command, off the UI's goroutine.
func (m model) exportReport() (tea.Model, tea.Cmd) {
	if m.d.export == nil {
		return m, nil
	}
	final, r := m.summary.Report(), m.run.runner
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
	name := m.tuning.Profile()
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
		if name == "" {
			m.prompt = m.prompt.Refuse("give the profile a name")
			return m, nil
		}
		if err := profiles.ValidName(name); err != nil {
			m.prompt = m.prompt.Refuse(err.Error())
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

func (m model) onSaved(msg savedMsg) model {
	if msg.err != nil {
		m.say("saving profile "+msg.name+" failed: "+oneLine(msg.err.Error()), true)
		return m
	}
	m.say("saved profile "+msg.name+" to "+msg.path, false)
	return m
}

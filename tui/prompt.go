package tui

import (
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// prompt asks for one line of text (a profile's name) in a box over the
// screen.
type prompt struct {
	sh     *shared
	active bool
	title  string
	why    string // why the last answer was refused
	input  textinput.Model
}

func newPrompt(sh *shared) prompt {
	in := textinput.New()
	in.CharLimit = 64
	in.Prompt = "› "
	return prompt{sh: sh, input: in}
}

// Open shows the prompt with value filled in. Its command starts the
// cursor blinking at once (Focus's own would first wait a blink).
func (p prompt) Open(title, value string) (prompt, tea.Cmd) {
	p.active, p.title, p.why = true, title, ""
	p.input.SetValue(value)
	p.input.CursorEnd()
	p.input.Focus()
	return p, textinput.Blink
}

// Close hides the prompt.
func (p prompt) Close() prompt {
	p.active = false
	p.input.Blur()
	return p
}

// Refuse keeps the prompt open, saying why.
func (p prompt) Refuse(why string) prompt { p.why = why; return p }

// Active is whether the prompt is open.
func (p prompt) Active() bool { return p.active }

// Value is what has been typed.
func (p prompt) Value() string { return p.input.Value() }

func (p prompt) Update(msg tea.Msg) (prompt, tea.Cmd) {
	if !p.active {
		return p, nil
	}
	p.why = ""
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return p, cmd
}

// View is the box, placed in the middle of w×h.
func (p prompt) View(w, h int) string {
	st := p.sh.styles
	p.input.Width = max(min(40, w-12), 8)
	body := st.Section.Render(p.title) + "\n\n" + p.input.View()
	if p.why != "" {
		body += "\n" + st.Error.Render("✗ "+p.why)
	}
	body += "\n\n" + st.Dim.Render("enter saves · esc cancels")
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, st.Overlay.Render(body))
}

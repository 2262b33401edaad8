package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites"
)

// suitePicker lists every suite with a checkbox. At least one stays on.
type suitePicker struct {
	sh      *shared
	items   []pickItem
	cursor  int
	focused bool
	width   int
	notice  string // why the last toggle was refused
}

type pickItem struct {
	name, desc string
	on         bool
}

// newSuitePicker lists every suite, checking those cfg names; when none of
// them is known the first suite is checked, so a run is always possible.
func newSuitePicker(sh *shared, cfg suites.Config) suitePicker {
	chosen := map[string]bool{}
	for _, n := range cfg.Suites {
		chosen[n] = true
	}
	p := suitePicker{sh: sh}
	any := false
	for _, s := range suites.All() {
		p.items = append(p.items, pickItem{name: s.Name(), desc: s.Description(), on: chosen[s.Name()]})
		any = any || chosen[s.Name()]
	}
	if !any && len(p.items) > 0 {
		p.items[0].on = true
	}
	return p
}

// Chosen lists the checked suites in the order they run.
func (p suitePicker) Chosen() []string {
	var out []string
	for _, it := range p.items {
		if it.on {
			out = append(out, it.name)
		}
	}
	return out
}

func (p suitePicker) Len() int { return len(p.items) }

func (p suitePicker) SetSize(width int) suitePicker { p.width = width; return p }

// Focus gives the picker the keys; Blur takes them away.
func (p suitePicker) Focus() suitePicker { p.focused = true; return p }
func (p suitePicker) Blur() suitePicker  { p.focused = false; return p }

// Focused is whether the picker has the keys.
func (p suitePicker) Focused() bool { return p.focused }

// Cursor is the row under the cursor.
func (p suitePicker) Cursor() int { return p.cursor }

// Select moves the cursor to row i, within the rows there are.
func (p suitePicker) Select(i int) suitePicker {
	p.cursor = min(max(i, 0), len(p.items)-1)
	return p
}

// ClearNotice drops the word on the last refused toggle: the user has
// moved on.
func (p suitePicker) ClearNotice() suitePicker { p.notice = ""; return p }

// Load is the picker for cfg's suites (a profile just chosen), with its
// cursor, focus and size as they were.
func (p suitePicker) Load(cfg suites.Config) suitePicker {
	n := newSuitePicker(p.sh, cfg)
	n.cursor, n.focused, n.width = p.cursor, p.focused, p.width
	return n
}

// Update toggles the suite under the cursor.
func (p suitePicker) Update(msg tea.Msg) (suitePicker, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok || !p.focused {
		return p, nil
	}
	p.notice = ""
	if key.Matches(km, p.sh.keys.Toggle) && p.cursor < len(p.items) {
		it := &p.items[p.cursor]
		if it.on && len(p.Chosen()) == 1 {
			p.notice = "at least one suite must stay on"
			return p, nil
		}
		it.on = !it.on
	}
	return p, nil
}

func (p suitePicker) View() string {
	st := p.sh.styles
	var b strings.Builder
	b.WriteString(st.Section.Render("SUITES"))
	nameW := 0
	for _, it := range p.items {
		nameW = max(nameW, len(it.name))
	}
	for i, it := range p.items {
		b.WriteByte('\n')
		box := "[ ]"
		if it.on {
			box = "[x]"
		}
		line := box + " " + pad(it.name, nameW)
		if p.focused && i == p.cursor {
			b.WriteString(st.Selected.Render("› " + line))
		} else {
			b.WriteString("  " + line)
		}
		b.WriteString("  " + st.Dim.Render(it.desc))
	}
	if p.notice != "" {
		b.WriteString("\n" + st.Warn.Render("  "+p.notice))
	}
	return fit(b.String(), p.width)
}

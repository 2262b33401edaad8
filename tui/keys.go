package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key binding the TUI has. Bindings that do nothing on the
// current screen are disabled, so help shows only what works there.
type KeyMap struct {
	Up, Down    key.Binding
	Left, Right key.Binding
	Next, Prev  key.Binding // tab: next section on setup, next op on the dashboard
	Toggle      key.Binding
	Start       key.Binding
	Again       key.Binding
	Help        key.Binding
	Close       key.Binding // closes the help overlay
	Quit        key.Binding

	screen screen
}

// DefaultKeyMap is phantom's bindings. Letters other than q and r are left
// free for the live controls to come (kill leader, save profile).
func DefaultKeyMap() KeyMap {
	k := KeyMap{
		Up:     key.NewBinding(key.WithKeys("up")),
		Down:   key.NewBinding(key.WithKeys("down")),
		Left:   key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "less")),
		Right:  key.NewBinding(key.WithKeys("right"), key.WithHelp("→", "more")),
		Next:   key.NewBinding(key.WithKeys("tab")),
		Prev:   key.NewBinding(key.WithKeys("shift+tab")),
		Toggle: key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "toggle")),
		Start:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "start")),
		Again:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "run again")),
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Close:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close help")),
		Quit:   key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
	k.forScreen(screenSetup)
	return k
}

// forScreen enables the bindings that work on screen s and words their
// help for it.
func (k *KeyMap) forScreen(s screen) {
	k.screen = s
	setup := s == screenSetup
	k.Left.SetEnabled(setup)
	k.Right.SetEnabled(setup)
	k.Toggle.SetEnabled(setup)
	k.Start.SetEnabled(setup)
	k.Again.SetEnabled(s == screenSummary)
	if setup {
		k.Up.SetHelp("↑", "previous row")
		k.Down.SetHelp("↓", "next row")
		k.Next.SetHelp("tab", "suites ⇄ tuning")
		k.Prev.SetHelp("shift+tab", "suites ⇄ tuning")
	} else {
		k.Up.SetHelp("↑", "previous op")
		k.Down.SetHelp("↓", "next op")
		k.Next.SetHelp("tab", "next op")
		k.Prev.SetHelp("shift+tab", "previous op")
	}
	if s == screenDashboard {
		k.Quit.SetHelp("q", "stop and quit")
	} else {
		k.Quit.SetHelp("q", "quit")
	}
}

// pair is a help-only entry for two bindings shown as one ("↑/↓ move").
func pair(a, b key.Binding, keys, desc string) key.Binding {
	if !a.Enabled() && !b.Enabled() {
		return key.NewBinding(key.WithDisabled())
	}
	return key.NewBinding(key.WithKeys(append(a.Keys(), b.Keys()...)...), key.WithHelp(keys, desc))
}

// ShortHelp is the footer line.
func (k KeyMap) ShortHelp() []key.Binding {
	switch k.screen {
	case screenSetup:
		return []key.Binding{pair(k.Up, k.Down, "↑/↓", "move"), pair(k.Left, k.Right, "←/→", "adjust"),
			k.Toggle, k.Start, k.Help, k.Quit}
	case screenSummary:
		return []key.Binding{pair(k.Next, k.Down, "tab/↑/↓", "select op"), k.Again, k.Help, k.Quit}
	}
	return []key.Binding{pair(k.Next, k.Down, "tab/↑/↓", "select op"), k.Help, k.Quit}
}

// FullHelp is the help overlay, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Next, k.Prev},
		{k.Left, k.Right, k.Toggle, k.Start, k.Again},
		{k.Help, k.Close, k.Quit},
	}
}

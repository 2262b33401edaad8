package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key binding the TUI has. Bindings that do nothing on the
// current screen are disabled, so help shows only what works there.
type KeyMap struct {
	Up, Down    key.Binding
	Left, Right key.Binding
	Next, Prev  key.Binding // tab: next section on setup, next knob on the dashboard
	Toggle      key.Binding // space on setup: a suite on or off
	Start       key.Binding // enter on setup: start; on the dashboard: apply a retune now
	Again       key.Binding

	// Live control and faults, on the dashboard.
	Pause     key.Binding
	Kill      key.Binding
	Partition key.Binding
	Heal      key.Binding
	Crash     key.Binding
	Restart   key.Binding
	Delay     key.Binding

	Save   key.Binding
	Export key.Binding
	Help   key.Binding
	Close  key.Binding // closes the help overlay or the save prompt
	Quit   key.Binding

	screen screen
}

// DefaultKeyMap is phantom's bindings.
func DefaultKeyMap() KeyMap {
	k := KeyMap{
		Up:        key.NewBinding(key.WithKeys("up")),
		Down:      key.NewBinding(key.WithKeys("down")),
		Left:      key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "less")),
		Right:     key.NewBinding(key.WithKeys("right"), key.WithHelp("→", "more")),
		Next:      key.NewBinding(key.WithKeys("tab")),
		Prev:      key.NewBinding(key.WithKeys("shift+tab")),
		Toggle:    key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "toggle suite")),
		Start:     key.NewBinding(key.WithKeys("enter")),
		Again:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "new run")),
		Pause:     key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "pause/resume")),
		Kill:      key.NewBinding(key.WithKeys("k"), key.WithHelp("k", "kill a shard leader")),
		Partition: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "partition a node")),
		Heal:      key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "heal partitions")),
		Crash:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "crash a node")),
		Restart:   key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "restart crashed nodes")),
		Delay:     key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "more net delay (wraps)")),
		Save:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save as profile")),
		Export:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export report")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Close:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close")),
		Quit:      key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
	k.forScreen(screenSetup)
	return k
}

// forScreen enables the bindings that work on screen s and words their
// help for it.
func (k *KeyMap) forScreen(s screen) {
	k.screen = s
	setup, dash := s == screenSetup, s == screenDashboard
	k.Left.SetEnabled(setup || dash)
	k.Right.SetEnabled(setup || dash)
	k.Toggle.SetEnabled(setup)
	k.Start.SetEnabled(setup || dash)
	k.Again.SetEnabled(s == screenSummary)
	for _, b := range []*key.Binding{&k.Pause, &k.Kill, &k.Partition, &k.Heal, &k.Crash, &k.Restart, &k.Delay} {
		b.SetEnabled(dash)
	}
	k.Export.SetEnabled(!setup)
	if setup {
		k.Up.SetHelp("↑", "previous row")
		k.Down.SetHelp("↓", "next row")
		k.Next.SetHelp("tab", "suites ⇄ tuning")
		k.Prev.SetHelp("shift+tab", "suites ⇄ tuning")
		k.Start.SetHelp("enter", "start")
		k.Left.SetHelp("←", "less")
		k.Right.SetHelp("→", "more")
	} else {
		k.Up.SetHelp("↑", "previous op")
		k.Down.SetHelp("↓", "next op")
		k.Next.SetHelp("tab", "next knob")
		k.Prev.SetHelp("shift+tab", "previous knob")
		k.Start.SetHelp("enter", "apply retune now")
		k.Left.SetHelp("←", "knob less (0-9 types)")
		k.Right.SetHelp("→", "knob more")
	}
	if dash {
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

// alias is b with another help text, for the footer's shorter words.
func alias(b key.Binding, desc string) key.Binding {
	if !b.Enabled() {
		return key.NewBinding(key.WithDisabled())
	}
	return key.NewBinding(key.WithKeys(b.Keys()...), key.WithHelp(b.Help().Key, desc))
}

// ShortHelp is the footer line: the keys that matter most on the screen
// first, so that a narrow terminal cuts the others.
func (k KeyMap) ShortHelp() []key.Binding {
	switch k.screen {
	case screenSetup:
		return []key.Binding{pair(k.Up, k.Down, "↑/↓", "move"), pair(k.Left, k.Right, "←/→", "adjust"),
			k.Toggle, alias(k.Start, "start"), alias(k.Help, "help"), k.Quit, alias(k.Save, "save profile")}
	case screenSummary:
		return []key.Binding{pair(k.Up, k.Down, "↑/↓", "select op"), k.Again, alias(k.Export, "export"),
			alias(k.Save, "save profile"), k.Help, k.Quit}
	}
	return []key.Binding{pair(k.Left, k.Right, "←/→", "retune"), pair(k.Next, k.Prev, "tab", "knob"),
		alias(k.Kill, "kill leader"), alias(k.Pause, "pause"), alias(k.Help, "all keys"), alias(k.Quit, "quit"),
		pair(k.Partition, k.Heal, "p/h", "partition/heal"), pair(k.Crash, k.Restart, "x/u", "crash/restart"),
		alias(k.Delay, "delay"), alias(k.Save, "save"), alias(k.Export, "export")}
}

// FullHelp is the help overlay, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Next, k.Prev, k.Left, k.Right, k.Toggle, k.Start},
		{k.Pause, k.Kill, k.Partition, k.Heal, k.Crash, k.Restart, k.Delay},
		{k.Save, k.Export, k.Again, k.Help, k.Close, k.Quit},
	}
}

package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
)

func TestSetupKnobs(t *testing.T) {
	// Focus starts on the first suite; each down moves one row, so the
	// knobs are 1 (nodes) to 4 (data size) downs away.
	to := func(knob int) []string { return repeat("down", knob+1) }
	cfg := func(edit func(*suites.Config)) suites.Config {
		c := suites.DefaultConfig() // 3 nodes, 8 clients, 10s, 1KiB
		if edit != nil {
			edit(&c)
		}
		return c
	}
	tests := []struct {
		name string
		cfg  suites.Config
		keys []string
		want func(suites.Config) any
		val  any
	}{
		{"nodes up", cfg(nil), append(to(knobNodes), "right"), nodes, 4},
		{"nodes down", cfg(nil), append(to(knobNodes), "left"), nodes, 2},
		{"nodes skip even sizes past 5", cfg(func(c *suites.Config) { c.Nodes = 5 }), append(to(knobNodes), "right"), nodes, 7},
		{"nodes clamp low", cfg(nil), append(to(knobNodes), repeat("left", 10)...), nodes, knob.MinNodes},
		{"nodes clamp high", cfg(nil), append(to(knobNodes), repeat("right", 50)...), nodes, knob.MaxNodes},
		{"clients up", cfg(nil), append(to(knobClients), "right"), clients, 16},
		{"clients down", cfg(nil), append(to(knobClients), "left"), clients, 4},
		{"clients off-step up", cfg(func(c *suites.Config) { c.Clients = 20 }), append(to(knobClients), "right"), clients, 32},
		{"clients off-step down", cfg(func(c *suites.Config) { c.Clients = 20 }), append(to(knobClients), "left"), clients, 16},
		{"clients clamp low", cfg(nil), append(to(knobClients), repeat("left", 10)...), clients, knob.MinClients},
		{"clients clamp high", cfg(nil), append(to(knobClients), repeat("right", 50)...), clients, knob.MaxClients},
		{"duration up", cfg(nil), append(to(knobDuration), "right"), duration, 30 * time.Second},
		{"duration down", cfg(nil), append(to(knobDuration), "left"), duration, 5 * time.Second},
		{"duration to a minute", cfg(nil), append(to(knobDuration), "right", "right"), duration, time.Minute},
		{"duration clamp low", cfg(nil), append(to(knobDuration), repeat("left", 10)...), duration, knob.MinDuration},
		{"duration clamp high", cfg(nil), append(to(knobDuration), repeat("right", 50)...), duration, knob.MaxDuration},
		{"data size up", cfg(nil), append(to(knobDataSize), "right"), dataSize, 4 << 10},
		{"data size down", cfg(nil), append(to(knobDataSize), "left"), dataSize, 256},
		{"data size clamp low", cfg(nil), append(to(knobDataSize), repeat("left", 20)...), dataSize, knob.MinDataSize},
		{"data size clamp high", cfg(nil), append(to(knobDataSize), repeat("right", 20)...), dataSize, knob.MaxDataSize},
		{"left and right on a suite change nothing", cfg(nil), []string{"left", "right", "right"}, nodes, 3},
		{"other knobs stay", cfg(nil), append(to(knobClients), "right"), nodes, 3},
		{"cluster to processes", cfg(nil), append(to(knobCluster), "right"), cluster, suites.ClusterProcesses},
		{"cluster clamps at processes", cfg(nil), append(to(knobCluster), "right", "right"), cluster, suites.ClusterProcesses},
		{"cluster back to embedded", cfg(func(c *suites.Config) { c.Cluster = suites.ClusterProcesses }), append(to(knobCluster), "left"), cluster, suites.ClusterEmbedded},
		{"a profile's join mode is a choice", cfg(func(c *suites.Config) { c.Cluster = "join=10.0.0.1:7000" }), to(knobCluster), cluster, "join=10.0.0.1:7000"},
		{"node CPUs with processes", cfg(func(c *suites.Config) { c.Cluster = suites.ClusterProcesses }), append(to(knobNodeCPUs), "right", "right"), nodeCPUs, 0.2},
		{"node CPUs back to no quota", cfg(func(c *suites.Config) { c.Cluster = suites.ClusterProcesses; c.NodeCPUs = 0.1 }), append(to(knobNodeCPUs), "left", "left"), nodeCPUs, 0.0},
		{"node CPUs off without processes", cfg(nil), append(to(knobNodeCPUs), "right", "right"), nodeCPUs, 0.0},
		{"node CPUs dropped when the cluster leaves processes", cfg(func(c *suites.Config) { c.Cluster = suites.ClusterProcesses; c.NodeCPUs = 0.25 }), append(to(knobCluster), "left"), nodeCPUs, 0.0},
		{"a profile's node CPUs kept", cfg(func(c *suites.Config) { c.Cluster = suites.ClusterProcesses; c.NodeCPUs = 0.3 }), to(knobNodes), nodeCPUs, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := press(t, testModelFor(t, tt.cfg, newFakeRunner(fixture()), 80, 24), tt.keys...)
			if got := tt.want(m.config()); got != tt.val {
				t.Errorf("got %v, want %v", got, tt.val)
			}
			if err := m.config().Validate(); err != nil {
				t.Errorf("a knob made the config invalid: %v", err)
			}
		})
	}
}

func nodes(c suites.Config) any    { return c.Nodes }
func cluster(c suites.Config) any  { return c.Cluster }
func nodeCPUs(c suites.Config) any { return c.NodeCPUs }
func clients(c suites.Config) any  { return c.Clients }
func duration(c suites.Config) any { return c.Duration }
func dataSize(c suites.Config) any { return c.DataSize }

func TestSetupKnobShowsValue(t *testing.T) {
	m := press(t, testModel(t, newFakeRunner(fixture()), 80, 24), append(repeat("down", knobDataSize+1), "right")...)
	if l := lineWith(m.View(), "data size"); !strings.Contains(l, "4KiB") || !strings.HasPrefix(strings.TrimSpace(l), "›") {
		t.Errorf("data size row should be focused and read 4KiB: %q", l)
	}
	m = press(t, m, repeat("right", 20)...)
	if l := lineWith(m.View(), "data size"); !strings.Contains(l, "16MiB") || strings.Contains(l, "▶") {
		t.Errorf("at its upper limit the knob should read 16MiB without ▶: %q", l)
	}
}

func TestSetupFocus(t *testing.T) {
	type focus struct {
		suites bool
		row    int
	}
	tests := []struct {
		name string
		keys []string
		want focus
	}{
		{"starts on the first suite", nil, focus{true, 0}},
		{"up at the top stays", []string{"up", "up"}, focus{true, 0}},
		{"down from the last suite to the first knob", []string{"down"}, focus{false, knobProfile}},
		{"down through the knobs", []string{"down", "down", "down", "down", "down"}, focus{false, knobClients}},
		{"down at the bottom stays", repeat("down", 10), focus{false, knobNetDelay}},
		{"up from the first knob to the suites", []string{"down", "up"}, focus{true, 0}},
		{"tab to tuning", []string{"tab"}, focus{false, 0}},
		{"tab back to suites", []string{"tab", "shift+tab"}, focus{true, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := press(t, testModel(t, newFakeRunner(fixture()), 80, 24), tt.keys...)
			got := focus{m.picker.Focused(), m.picker.Cursor()}
			if !m.picker.Focused() {
				got.row = m.tuning.Cursor()
			}
			if m.picker.Focused() == m.tuning.Focused() {
				t.Fatalf("exactly one panel must have focus: suites %v, tuning %v", m.picker.Focused(), m.tuning.Focused())
			}
			if got != tt.want {
				t.Errorf("focus %+v, want %+v", got, tt.want)
			}
		})
	}
}

// twoSuites is the setup screen with a second suite in the picker, so
// toggling can be seen while only one suite is registered.
func twoSuites(t *testing.T) model {
	m := testModel(t, newFakeRunner(fixture()), 80, 24)
	m.picker = m.picker.withItems(pickItem{name: "consensus", desc: "Raft", on: true}, pickItem{name: "other", desc: "a second suite"})
	return m
}

func TestSetupToggleSuites(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		want   []string
		notice bool
	}{
		{"the last suite stays on", []string{"space"}, []string{"consensus"}, true},
		{"turn a second one on", []string{"down", "space"}, []string{"consensus", "other"}, false},
		{"then the first off", []string{"down", "space", "up", "space"}, []string{"other"}, false},
		{"and the last one refuses", []string{"down", "space", "up", "space", "down", "space"}, []string{"other"}, true},
		{"space on a knob toggles nothing", []string{"down", "down", "space"}, []string{"consensus"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := press(t, twoSuites(t), tt.keys...)
			if got := m.picker.Chosen(); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("chosen %v, want %v", got, tt.want)
			}
			if got := strings.Contains(m.View(), "at least one suite must stay on"); got != tt.notice {
				t.Errorf("notice shown %v, want %v", got, tt.notice)
			}
		})
	}
}

func TestSetupEnter(t *testing.T) {
	t.Run("valid config starts the run", func(t *testing.T) {
		// The real runner constructor: it validates but starts nothing
		// until the returned command runs, which this test never does.
		m := newModel(suites.DefaultConfig(), defaultDeps())
		next, cmd := m.Update(keyMsg("enter"))
		m = next.(model)
		if cmd == nil {
			t.Fatal("enter returned no command: the run would never start")
		}
		if m.screen != screenDashboard || m.run == nil || m.sess.last != m.run {
			t.Fatalf("screen %v, run %v: want the dashboard with a run", m.screen, m.run)
		}
		if m.setupErr != "" {
			t.Errorf("unexpected error %q", m.setupErr)
		}
		m.run.cancel()
	})
	invalid := []struct {
		name string
		edit func(*model)
		want string
	}{
		{"unknown suite", func(m *model) { m.picker = m.picker.withItems(pickItem{name: "nosuch", desc: "Raft", on: true}) }, `unknown suite "nosuch"`},
		{"bad setting outside the knobs", func(m *model) { m.base.Tick = 0 }, "tick must be between"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel(t, newFakeRunner(fixture()), 80, 24)
			tt.edit(&m)
			next, cmd := m.Update(keyMsg("enter"))
			m = next.(model)
			if cmd != nil {
				t.Error("an invalid config returned a command")
			}
			if m.screen != screenSetup || m.run != nil {
				t.Fatalf("an invalid config left the setup screen")
			}
			view := m.View()
			if l := lineWith(view, tt.want); !strings.HasPrefix(l, "✗ ") {
				t.Errorf("want a one-line error containing %q, view:\n%s", tt.want, view)
			}
			checkFits(t, view, 80, 24)
			// The next key clears the error.
			if m = press(t, m, "down"); m.setupErr != "" {
				t.Errorf("error still shown after a key: %q", m.setupErr)
			}
		})
	}
}

func TestSetupQuitAndHelp(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		t.Run(k+" quits", func(t *testing.T) {
			_, cmd := testModel(t, newFakeRunner(fixture()), 80, 24).Update(keyMsg(k))
			if !isQuit(cmd) {
				t.Error("no tea.Quit")
			}
		})
	}
	t.Run("? toggles help", func(t *testing.T) {
		m := press(t, testModel(t, newFakeRunner(fixture()), 80, 24), "?")
		if !m.showHelp || !strings.Contains(m.View(), "KEYS") || !strings.Contains(m.View(), "toggle") {
			t.Fatalf("help not shown:\n%s", m.View())
		}
		checkFits(t, m.View(), 80, 24)
		// Keys other than ?, esc and q belong to the overlay.
		if m2 := press(t, m, "down", "right"); m2.tuning.Value(knobNodes) != 3 || !m2.picker.Focused() {
			t.Error("keys went through the help overlay")
		}
		if m = press(t, m, "?"); m.showHelp || strings.Contains(m.View(), "KEYS") {
			t.Error("? did not close help")
		}
		if m = press(t, m, "?", "esc"); m.showHelp {
			t.Error("esc did not close help")
		}
	})
}

func TestPickerListsEverySuite(t *testing.T) {
	m := newModel(suites.DefaultConfig(), defaultDeps())
	var names []string
	for _, it := range m.picker.items {
		names = append(names, it.name)
	}
	if strings.Join(names, ",") != strings.Join(suites.Names(), ",") {
		t.Errorf("picker lists %v, want every suite %v", names, suites.Names())
	}
	if got := m.picker.Chosen(); strings.Join(got, ",") != strings.Join(suites.DefaultConfig().Suites, ",") {
		t.Errorf("chosen %v, want the config's %v", got, suites.DefaultConfig().Suites)
	}
}

// A profile's scripted changes are named on the setup screen: they run
// whatever the knobs say.
func TestSetupNamesScriptedChanges(t *testing.T) {
	cfg := suites.DefaultConfig()
	cfg.At = []knob.TimedAction{
		{At: 10 * time.Second, Action: knob.Action{Verb: knob.VerbClients, Count: 20}},
		{At: 20 * time.Second, Action: knob.Action{Verb: knob.VerbKillLeader}},
	}
	m := testModelFor(t, cfg, newFakeRunner(fixture()), 160, 48)
	if l := lineWith(m.View(), "planned load"); !strings.Contains(l, "scripted: 10s clients=20, 20s kill-leader") {
		t.Errorf("setup line %q", l)
	}
}

// The keys that are not the dashboard's do what they say on setup: s saves
// the settings as a profile (named after it), e and the fault keys do
// nothing before a run.
func TestSetupSaveAndInertKeys(t *testing.T) {
	var saved string
	var savedCfg suites.Config
	cfg := suites.DefaultConfig()
	cfg.Profile = "quick"
	m := testModelFor(t, cfg, newFakeRunner(fixture()), 80, 24)
	m.d.save = func(name string, c suites.Config) (string, error) {
		saved, savedCfg = name, c
		return "/p/" + name + ".toml", nil
	}
	m = do(t, m, "down", "down", "down", "down", "down", "right") // clients 16
	m = do(t, m, "e", "k", "x", "p", "h", "u", "d")
	if m.screen != screenSetup || m.notice.text != "" || m.run != nil {
		t.Fatalf("a dashboard key acted on setup: screen %v, notice %q", m.screen, m.notice.text)
	}
	m = do(t, m, "s")
	if !m.prompt.Active() || m.prompt.Value() != "quick" {
		t.Fatalf("prompt %v %q, want one offering the profile's name", m.prompt.Active(), m.prompt.Value())
	}
	m = do(t, m, "enter")
	if saved != "quick" || savedCfg.Clients != 16 || !strings.Contains(m.View(), "saved profile quick to /p/quick.toml") {
		t.Errorf("saved %q with %d clients; footer %q", saved, savedCfg.Clients, lineWith(m.View(), "saved"))
	}
}

// The node CPUs knob shows its quota with the processes cluster, and off
// with another; a typed value is read as --node-cpus reads it.
func TestSetupNodeCPUsKnob(t *testing.T) {
	cfg := suites.DefaultConfig()
	m := press(t, testModelFor(t, cfg, newFakeRunner(fixture()), 80, 24), repeat("down", knobNodeCPUs+1)...)
	if l := lineWith(m.View(), "node CPUs"); !strings.Contains(l, "off (processes only)") {
		t.Errorf("with the embedded cluster the knob should read off: %q", l)
	}
	m = press(t, m, "up", "right", "down", "right", "right")
	if l := lineWith(m.View(), "node CPUs"); !strings.Contains(l, "0.2 CPUs") {
		t.Errorf("with processes, two steps up should read 0.2 CPUs: %q", l)
	}
	m = press(t, m, "0", ".", "3", "5", "enter")
	if got := m.config().NodeCPUs; got != 0.35 {
		t.Errorf("typed 0.35: node CPUs %v", got)
	}
	m = press(t, m, "0", ".", "0", "0", "1", "enter")
	if got := m.config().NodeCPUs; got != 0.35 || !strings.Contains(m.View(), "✗") {
		t.Errorf("typed 0.001 (under the kernel's least quota): node CPUs %v, want 0.35 kept and an error shown", got)
	}
}

package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// do presses keys and carries out the commands they return that answer at
// once (controls, saves, exports), feeding their messages back. It never
// runs a tick or a run, which wait.
func do(t *testing.T, m model, keys ...string) model {
	t.Helper()
	for _, k := range keys {
		next, cmd := m.Update(keyMsg(k))
		m = settleCmd(t, next.(model), cmd)
	}
	return m
}

// settleCmd runs cmd and the batch it may hold, feeding back the
// messages of the commands the model sends for actions.
func settleCmd(t *testing.T, m model, cmd tea.Cmd) model {
	t.Helper()
	if cmd == nil {
		return m
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			m = settleCmd(t, m, c)
		}
	case controlDoneMsg, savedMsg, exportedMsg:
		m = update(t, m, msg)
	}
	return m
}

// live is a dashboard at 80×24 on the fixture, its runner f.
func live(t *testing.T) (model, *fakeRunner) {
	t.Helper()
	f := newFakeRunner(fixture())
	m := press(t, testModel(t, f, 80, 24), "enter")
	m = update(t, m, tickMsg{id: m.tickID, at: time.Unix(100, 0)})
	if m.screen != screenDashboard {
		t.Fatal("not on the dashboard")
	}
	return m, f
}

func verbs(as []knob.Action) string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}

func TestDashboardKeys(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		actions string // the actions sent, as --at writes them
		check   func(t *testing.T, m model)
	}{
		{"up and down select ops", []string{"down"}, "", func(t *testing.T, m model) {
			if op, _ := m.table.Selected(); op.Name != "txn.2pc" {
				t.Errorf("selected %q", op.Name)
			}
			if m.chart.op.Name != "txn.2pc" || m.rate.op.Name != "txn.2pc" {
				t.Error("the charts do not follow the selection")
			}
		}},
		{"tab moves to the next knob", []string{"tab"}, "", func(t *testing.T, m model) {
			if m.tuning.Cursor() != knobClients {
				t.Errorf("knob %d, want clients", m.tuning.Cursor())
			}
		}},
		{"shift+tab wraps to the last knob", []string{"shift+tab"}, "", func(t *testing.T, m model) {
			if m.tuning.Cursor() != knobNetDelay {
				t.Errorf("knob %d, want net delay", m.tuning.Cursor())
			}
		}},
		{"right waits to settle", []string{"tab", "right", "right"}, "", func(t *testing.T, m model) {
			if v, a := m.tuning.Value(knobClients), m.tuning.Applied(knobClients); v != 32 || a != 8 {
				t.Errorf("clients %d applied %d, want 32 pending", v, a)
			}
			if !strings.Contains(lineWith(m.View(), "TUNE"), "32…") {
				t.Errorf("pending value not shown: %q", lineWith(m.View(), "TUNE"))
			}
		}},
		{"enter applies at once", []string{"tab", "right", "right", "enter"}, "clients=32", func(t *testing.T, m model) {
			if a := m.tuning.Applied(knobClients); a != 32 {
				t.Errorf("applied %d", a)
			}
			if !strings.Contains(m.View(), "✓ clients=32") {
				t.Error("no notice")
			}
		}},
		{"a typed value applies on enter", []string{"tab", "1", "2", "0", "enter"}, "clients=120", nil},
		{"a typed value keeps q and k", []string{"tab", "1", "k", "q", "esc"}, "", func(t *testing.T, m model) {
			if m.tuning.Editing() || m.tuning.Value(knobClients) != 8 {
				t.Error("esc should drop the typed value")
			}
		}},
		{"a bad typed value is refused", []string{"tab", "9", "9", "9", "9", "9", "enter"}, "", func(t *testing.T, m model) {
			if !strings.Contains(m.View(), "clients must be between 1 and 10000") {
				t.Errorf("no refusal: %q", lineWith(m.View(), "TUNE"))
			}
		}},
		{"left on nodes shrinks the cluster", []string{"left", "enter"}, "nodes=2", nil},
		{"data size", []string{"tab", "tab", "tab", "right", "enter"}, "data-size=4KiB", nil},
		{"duration", []string{"tab", "tab", "right", "enter"}, "duration=30s", nil},
		{"rate on a closed loop is refused", []string{"shift+tab", "shift+tab", "right", "enter"}, "", func(t *testing.T, m model) {
			if !strings.Contains(m.View(), "closed-loop") || m.tuning.Value(knobRate) != 0 {
				t.Errorf("want the refusal and the knob back at 0: %q", lineWith(m.View(), "closed"))
			}
		}},
		{"net delay", []string{"shift+tab", "right", "enter"}, "net-delay=1ms", nil},
		{"space pauses", []string{"space"}, "pause", func(t *testing.T, m model) {
			if !m.paused {
				t.Error("not marked paused")
			}
		}},
		{"space twice resumes", []string{"space", "space"}, "pause resume", nil},
		{"k kills a leader", []string{"k"}, "kill-leader", nil},
		{"p partitions a node", []string{"p"}, "partition", nil},
		{"h heals", []string{"h"}, "heal", nil},
		{"x crashes a node", []string{"x"}, "crash", nil},
		{"u restarts crashed nodes", []string{"u"}, "restart", nil},
		{"d adds delay, stepping", []string{"d", "d", "d"}, "net-delay=1ms net-delay=5ms net-delay=20ms", nil},
		{"d wraps to none", repeat("d", 5), "net-delay=1ms net-delay=5ms net-delay=20ms net-delay=50ms net-delay=0s", nil},
		{"e exports the report so far", []string{"e"}, "", func(t *testing.T, m model) {
			if !strings.Contains(m.View(), "report written: report.json, report.md") {
				t.Errorf("footer %q", lineWith(m.View(), "report"))
			}
		}},
		{"s opens the save prompt", []string{"s"}, "", func(t *testing.T, m model) {
			if !m.prompt.Active() || m.prompt.Value() != "custom-tuned" {
				t.Errorf("prompt %v %q", m.prompt.Active(), m.prompt.Value())
			}
		}},
		{"? shows help", []string{"?"}, "", func(t *testing.T, m model) {
			if !strings.Contains(m.View(), "kill a shard leader") {
				t.Error("help lacks the fault keys")
			}
		}},
		{"keys under help do nothing", []string{"?", "k", "esc"}, "", nil},
		{"q stops first", []string{"q"}, "", func(t *testing.T, m model) {
			if !m.stopping {
				t.Error("not stopping")
			}
		}},
		{"no actions once stopping", []string{"q", "k", "right", "enter"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, f := live(t)
			m = do(t, m, tt.keys...)
			if got := verbs(f.Actions()); got != tt.actions {
				t.Errorf("actions %q, want %q", got, tt.actions)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// A knob moved with ←/→ is applied once left alone for settle, as one
// action, by the tick.
func TestRetuneSettles(t *testing.T) {
	m, f := live(t)
	m = do(t, m, "tab", "right", "right", "right") // clients 8 → 64
	m.now = m.pendAt.Add(settle / 2)
	m, cmd := m.applySettled()
	if cmd != nil {
		t.Fatal("applied before settling")
	}
	m.now = m.pendAt.Add(settle)
	m, cmd = m.applySettled()
	m = settleCmd(t, m, cmd)
	if got := verbs(f.Actions()); got != "clients=64" {
		t.Errorf("actions %q, want one clients=64", got)
	}
}

// A refused action puts the knob back to what the run has.
func TestRefusedRetuneReverts(t *testing.T) {
	m, f := live(t)
	f.controlErr = errors.New("data size 16MiB would not fit the memory budget")
	m = do(t, m, "tab", "tab", "tab", "right", "enter")
	if v, a := m.tuning.Value(knobDataSize), m.tuning.Applied(knobDataSize); v != 1<<10 || a != 1<<10 {
		t.Errorf("data size %d applied %d, want back at 1KiB", v, a)
	}
	if !strings.Contains(m.View(), "✗ data-size=4KiB: data size 16MiB would not fit") {
		t.Errorf("footer: %q", lineWith(m.View(), "data-size"))
	}
	// The log keeps it after the notice fades, after the run's last event.
	m = update(t, m, tickMsg{id: m.tickID, at: m.now.Add(noticeFor + time.Second)})
	if l := lineWith(m.View(), "refused"); !strings.Contains(l, "00:42 ! refused data-size=4KiB: data size 16MiB") {
		t.Errorf("event log: %q", l)
	}
}

// A notice fades after noticeFor on the dashboard.
func TestNoticeFades(t *testing.T) {
	m, _ := live(t)
	m = do(t, m, "k")
	if !strings.Contains(m.View(), "kill-leader") {
		t.Fatal("no notice")
	}
	m = update(t, m, tickMsg{id: m.tickID, at: m.now.Add(noticeFor + time.Second)})
	if strings.Contains(m.View(), "kill-leader") {
		t.Error("the notice stayed")
	}
}

func TestSavePrompt(t *testing.T) {
	var saved []string
	var savedCfg suites.Config
	m, _ := live(t)
	m.d.save = func(name string, cfg suites.Config) (string, error) {
		saved, savedCfg = append(saved, name), cfg
		return "/p/" + name + ".toml", nil
	}
	m = do(t, m, "tab", "right", "enter") // clients 16, applied
	m = do(t, m, "s")
	if !strings.Contains(m.View(), "save these settings as profile") {
		t.Fatal("no prompt on screen")
	}
	// Keys go to the prompt, not to the fault keys.
	m = update(t, m, tea.KeyMsg{Type: tea.KeyCtrlU})
	m = do(t, m, "k", "x", "!", "enter")
	if len(saved) != 0 || !strings.Contains(m.View(), "letters, digits") {
		t.Fatalf("a bad name was saved or not refused: %v", saved)
	}
	m = do(t, m, "backspace", "enter")
	if strings.Join(saved, ",") != "kx" || savedCfg.Clients != 16 {
		t.Errorf("saved %v with %d clients, want kx with the retuned 16", saved, savedCfg.Clients)
	}
	if m.prompt.Active() || !strings.Contains(m.View(), "saved profile kx to /p/kx.toml") {
		t.Errorf("prompt %v, footer %q", m.prompt.Active(), lineWith(m.View(), "saved"))
	}
	// esc cancels.
	m = do(t, m, "s", "esc")
	if m.prompt.Active() || len(saved) != 1 {
		t.Error("esc did not cancel")
	}
}

func TestSummaryKeys(t *testing.T) {
	f := newFakeRunner(fixture())
	m := press(t, testModel(t, f, 80, 24), "enter")
	done := *fixture()
	done.Phase = metrics.PhaseDone
	f.snap.Store(&done)
	m = update(t, m, tickMsg{id: m.tickID})
	m = update(t, m, runDoneMsg{id: m.run.id, report: f.report})
	if m.screen != screenSummary {
		t.Fatal("not on the summary")
	}
	m = do(t, m, "down")
	if op, _ := m.table.Selected(); op.Name != "txn.2pc" {
		t.Errorf("down selected %q", op.Name)
	}
	m = do(t, m, "k", "space", "x")
	if len(f.Actions()) != 0 {
		t.Errorf("fault keys acted on the summary: %v", f.Actions())
	}
	m = do(t, m, "e")
	if !strings.Contains(m.View(), "report written") {
		t.Error("e did not export on the summary")
	}
	m = do(t, m, "r")
	if m.screen != screenSetup || m.tuning.live {
		t.Error("r did not go back to setup")
	}
}

func TestSetupProfileKnob(t *testing.T) {
	cfg := suites.DefaultConfig()
	cfg.Profile = "quick"
	m := testModelFor(t, cfg, newFakeRunner(fixture()), 80, 24)
	m = press(t, m, "down", "right") // the profile knob: quick → demo
	cfg = m.config()
	if cfg.Profile != "demo" || cfg.Nodes != 5 || cfg.Clients != 32 {
		t.Errorf("profile %q nodes %d clients %d, want demo's 5 and 32", cfg.Profile, cfg.Nodes, cfg.Clients)
	}
	if !strings.Contains(m.View(), "profile demo") {
		t.Error("header does not name the profile")
	}
	m = press(t, m, "down", "down", "down", "right", "left", "left") // past the cluster and node CPUs knobs; nodes 5 → 7 → 5 → 4
	if m.config().Nodes != 4 {
		t.Errorf("nodes %d after moving off the profile", m.config().Nodes)
	}
}

func TestSetupTypedValues(t *testing.T) {
	tests := []struct {
		knob  int
		typed string
		want  func(suites.Config) any
		val   any
	}{
		{knobNodes, "12", nodes, 12},
		{knobClients, "1,000", clients, 1000},
		{knobDuration, "90s", duration, 90 * time.Second},
		{knobDataSize, "2KiB", dataSize, 2048},
		{knobRate, "2500", func(c suites.Config) any { return c.Rate }, 2500.0},
		{knobNetDelay, "3ms", func(c suites.Config) any { return c.NetDelay }, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			m := testModel(t, newFakeRunner(fixture()), 80, 24)
			m = press(t, m, repeat("down", tt.knob+1)...)
			keys := strings.Split(tt.typed, "")
			m = press(t, m, append(keys, "enter")...)
			if got := tt.want(m.config()); got != tt.val {
				t.Errorf("got %v, want %v", got, tt.val)
			}
			if m.screen != screenSetup {
				t.Error("enter after a typed value started the run")
			}
		})
	}
}

// Fast typing or a paste arrives as one key with several runes: all of
// them are the value.
func TestTypedValuePasted(t *testing.T) {
	m, f := live(t)
	m = do(t, m, "tab")
	m = update(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("120")})
	do(t, m, "enter")
	if got := verbs(f.Actions()); got != "clients=120" {
		t.Errorf("actions %q", got)
	}
}

// A throughput verdict marks the op's row, but the latency chart says
// "over baseline" only for a latency verdict.
func TestChartViolationIsLatencyOnly(t *testing.T) {
	s := fixture()
	s.Verdicts = []metrics.Verdict{{Suite: "consensus", Metric: metrics.MetricThroughput, Limit: 1000, Value: 800, Unit: "ops/s"}}
	m := dashboard(t, s, 80, 24)
	if l := lineWith(m.View(), "consensus.submit   71,204"); !strings.Contains(l, "✗") {
		t.Errorf("the row should carry the throughput violation: %q", l)
	}
	if l := lineWith(m.View(), "LATENCY"); strings.Contains(l, "over baseline") {
		t.Errorf("chart title %q: latency is far under its baseline", l)
	}
}

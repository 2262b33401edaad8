package tui

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

func TestMain(m *testing.M) {
	// Views are checked as plain text whatever terminal runs the tests.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// fakeRunner stands in for suites.Runner: Latest returns whatever the test
// stored; Run blocks until ctx ends (or release is closed, when the fake
// ignores ctx) and then publishes a done snapshot.
type fakeRunner struct {
	snap      atomic.Pointer[metrics.Snapshot]
	release   chan struct{}
	ignoreCtx bool
	started   chan struct{}
	cancelled atomic.Bool
	report    *metrics.Report
	err       error

	mu         sync.Mutex
	actions    []knob.Action
	controlErr error // what Control returns
}

func (f *fakeRunner) Control(ctx context.Context, a knob.Action) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.controlErr
}

// Actions are the actions Control was given, oldest first.
func (f *fakeRunner) Actions() []knob.Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]knob.Action(nil), f.actions...)
}

func (f *fakeRunner) Report() *metrics.Report {
	r := *f.report
	r.Interrupted = true
	return &r
}

func newFakeRunner(s *metrics.Snapshot) *fakeRunner {
	f := &fakeRunner{release: make(chan struct{}), started: make(chan struct{}), report: &metrics.Report{Schema: metrics.ReportSchema}}
	f.snap.Store(s)
	return f
}

func (f *fakeRunner) Latest() *metrics.Snapshot { return f.snap.Load() }

func (f *fakeRunner) Run(ctx context.Context) (*metrics.Report, error) {
	close(f.started)
	done := ctx.Done()
	if f.ignoreCtx {
		done = nil
	}
	select {
	case <-done:
		f.cancelled.Store(true)
		f.report.Interrupted = true
	case <-f.release:
	}
	final := *f.snap.Load()
	final.Phase = metrics.PhaseDone
	f.snap.Store(&final)
	return f.report, f.err
}

// testModel is the setup screen at w×h for cfg; its runs use f.
func testModelFor(t *testing.T, cfg suites.Config, f *fakeRunner, w, h int) model {
	t.Helper()
	m := newModel(cfg, fakeDeps(f))
	// Pin the picker to one suite so the key paths in tests do not depend
	// on how many suites are registered (TestPickerListsEverySuite covers
	// the real list).
	m.picker = m.picker.withItems(pickItem{name: "consensus", desc: "Raft", on: true})
	return update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
}

// withItems is the picker listing items in place of the registered suites.
func (p suitePicker) withItems(items ...pickItem) suitePicker { p.items = items; return p }

// fakeDeps run f, offer two profiles (the second is "demo": 5 nodes, 32
// clients), save nowhere and export nowhere, recording what they were given.
func fakeDeps(f *fakeRunner) deps {
	return deps{
		newRun:   func(suites.Config) (runner, error) { return f, nil },
		profiles: func() []string { return []string{"quick", "demo"} },
		load: func(name string) (suites.Config, error) {
			cfg := suites.DefaultConfig()
			cfg.Profile = name
			if name == "demo" {
				cfg.Nodes, cfg.Clients, cfg.Suites = 5, 32, []string{"consensus"}
			}
			return cfg, nil
		},
		save: func(name string, cfg suites.Config) (string, error) {
			return "/profiles/" + name + ".toml", nil
		},
		export: func(r *metrics.Report) ([]string, error) {
			return []string{"report.json", "report.md"}, nil
		},
	}
}

func testModel(t *testing.T, f *fakeRunner, w, h int) model {
	return testModelFor(t, suites.DefaultConfig(), f, w, h)
}

func update(t *testing.T, m model, msg tea.Msg) model {
	t.Helper()
	next, _ := m.Update(msg)
	return next.(model)
}

func press(t *testing.T, m model, keys ...string) model {
	t.Helper()
	for _, k := range keys {
		m = update(t, m, keyMsg(k))
	}
	return m
}

// dashboard is a model on the dashboard at w×h after one tick read s.
func dashboard(t *testing.T, s *metrics.Snapshot, w, h int) model {
	t.Helper()
	m := press(t, testModel(t, newFakeRunner(s), w, h), "enter")
	if m.screen != screenDashboard {
		t.Fatalf("enter did not start the run: %q", m.setupErr)
	}
	return update(t, m, tickMsg{id: m.tickID})
}

func keyMsg(k string) tea.KeyMsg {
	types := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab, "esc": tea.KeyEsc, "ctrl+c": tea.KeyCtrlC,
		"backspace": tea.KeyBackspace,
	}
	if t, ok := types[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	if k == "space" {
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

func repeat(k string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = k
	}
	return out
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// checkFits fails when the view has more lines than h or a line wider
// than w.
func checkFits(t *testing.T, view string, w, h int) {
	t.Helper()
	ls := strings.Split(view, "\n")
	if len(ls) > h {
		t.Errorf("view has %d lines, terminal %d", len(ls), h)
	}
	for i, l := range ls {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("line %d is %d cells wide, terminal %d: %q", i+1, lw, w, l)
		}
	}
}

// lineWith returns the first line of view containing s.
func lineWith(view, s string) string {
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// fixture is a snapshot mid-run: two ops with figures, txn.2pc over its
// latency baseline, memory used and disk not offered by the machine, a
// node down.
func fixture() *metrics.Snapshot {
	var fast, slow []metrics.Point
	for i := range 40 {
		at := time.Duration(i+1) * 250 * time.Millisecond
		p99 := time.Duration(1500+100*(i%7)) * time.Microsecond
		if i == 30 {
			p99 = 8 * time.Millisecond
		}
		fast = append(fast, metrics.Point{At: at, OpsPerSec: 70000, Avg: 280 * time.Microsecond, P50: 210 * time.Microsecond, P99: p99})
		slow = append(slow, metrics.Point{At: at, OpsPerSec: 8000, Avg: 132 * time.Millisecond,
			P50: time.Duration(90+i) * time.Millisecond, P99: time.Duration(150+2*i) * time.Millisecond})
	}
	submit := metrics.Figures{Count: 71204, OpsPerSec: 71204, Latency: metrics.Latency{
		Avg: 280 * time.Microsecond, P50: 210 * time.Microsecond, P99: 1900 * time.Microsecond, Max: 12 * time.Millisecond}}
	twoPC := metrics.Figures{Count: 8113, Errors: 3, OpsPerSec: 8113, Latency: metrics.Latency{
		Avg: 132 * time.Millisecond, P50: 121 * time.Millisecond, P99: 230 * time.Millisecond, Max: 310 * time.Millisecond}}
	submitTotal := submit
	submitTotal.Count, submitTotal.OpsPerSec = 2_990_568, 71_204
	twoPCTotal := twoPC
	twoPCTotal.Count, twoPCTotal.Errors, twoPCTotal.OpsPerSec = 340_746, 41, 8_113
	s := &metrics.Snapshot{
		Seq: 7, Elapsed: 42 * time.Second, Planned: time.Minute, Phase: metrics.PhaseRunning, Suite: "consensus",
		Ops: []metrics.OpStats{
			{OpSpec: metrics.OpSpec{Name: "consensus.submit", Suite: "consensus", Primary: true}, Window: submit, Total: submitTotal, History: fast,
				Phases: fixturePhases(submit.Count)},
			{OpSpec: metrics.OpSpec{Name: "txn.2pc", Suite: "txn", Primary: true}, Window: twoPC, Total: twoPCTotal, History: slow},
		},
		System: metrics.System{
			CPU:        metrics.Gauge{Value: 85, OK: true},
			ProcessCPU: metrics.Gauge{Value: 41, OK: true},
			RSS:        metrics.Gauge{Value: 300 << 20, OK: true},
			NetRx:      metrics.Gauge{Value: 12 << 20, OK: true},
			NetTx:      metrics.Gauge{Value: 11 << 20, OK: true},
			SchedP99:   metrics.Gauge{Value: 0.014, OK: true},
		},
		Cluster: metrics.Cluster{
			Nodes: []metrics.Node{
				{ID: "n1", Up: true, Replicas: 3, Leaderships: 2},
				{ID: "n2", Up: true, Replicas: 3, Leaderships: 1},
				{ID: "n3", Up: false, Replicas: 3},
			},
			Shards: []metrics.Shard{
				{ID: 1, Leader: "n1", Term: 2, MaxLag: 4},
				{ID: 2, Leader: "n2", Term: 3, MaxLag: 17},
				{ID: 3, Leader: "n1", Term: 2},
			},
			LeaderChanges: 2,
		},
		Verdicts: []metrics.Verdict{
			{Suite: "consensus", Op: "consensus.submit", Metric: metrics.MetricAvgLatency, Limit: 100, Value: 0.28, Unit: "ms", Pass: true},
			{Suite: "txn", Op: "txn.2pc", Metric: metrics.MetricAvgLatency, Limit: 100, Value: 132, Unit: "ms", Pass: false},
		},
		Events: []metrics.Event{
			{At: 0, Kind: metrics.EventInfo, Message: "cluster ready: 3 nodes, 3 replicas"},
			{At: 31 * time.Second, Kind: metrics.EventViolation, Message: "violation: txn.2pc avg latency 132ms ≥ 100ms"},
			{At: 35 * time.Second, Kind: metrics.EventInfo, Message: "shard 2 leader → n2 (term 3)"},
			{At: 40 * time.Second, Kind: metrics.EventRecovered, Message: "recovered: consensus.submit p99 latency 1.90ms < 5ms"},
		},
	}
	// The bottleneck as the runner judges it: the scheduler's p99 is late.
	s.Bottleneck, s.Bottlenecks = metrics.NewDiagnoser(4<<30, false).Observe(s)
	return s
}

func sizeMsg(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

// fixturePhases are consensus.submit's phases in the fixture: 84% of its
// 280µs average, the rest in no phase.
func fixturePhases(n uint64) []metrics.PhaseStats {
	ph := func(name string, avg, p99 time.Duration) metrics.PhaseStats {
		f := metrics.Figures{Count: n, Latency: metrics.Latency{Avg: avg, P50: avg, P99: p99, Max: p99}}
		return metrics.PhaseStats{Name: name, Op: "consensus.submit." + name, Window: f, Total: f}
	}
	return []metrics.PhaseStats{
		ph("queue", 20*time.Microsecond, 150*time.Microsecond),
		ph("append", 5*time.Microsecond, 30*time.Microsecond),
		ph("replicate+commit", 170*time.Microsecond, 1200*time.Microsecond),
		ph("apply", 40*time.Microsecond, 300*time.Microsecond),
	}
}

package tui

import (
	"strconv"

	"github.com/charmbracelet/lipgloss"

	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

var sizes = []struct{ w, h int }{{80, 24}, {160, 48}}

func TestDashboardView(t *testing.T) {
	for _, sz := range sizes {
		t.Run(itoa2(sz.w, sz.h), func(t *testing.T) {
			view := dashboard(t, fixture(), sz.w, sz.h).View()
			checkFits(t, view, sz.w, sz.h)
			if n := strings.Count(view, "\n") + 1; n != sz.h {
				t.Errorf("view has %d lines, want the full %d", n, sz.h)
			}
			wants := []struct{ what, line, has string }{
				{"header", "profile custom", "00:42 / 01:00"},
				{"header phase", "profile custom", "RUNNING"},
				{"op row figures", "consensus.submit   71,204", "280µs   210µs  1.90ms  12.0ms"},
				{"slow op figures", "txn.2pc", "8,113   132ms   121ms   230ms   310ms     3"},
				{"selected row", "› ", "consensus.submit"},
				{"violation row", "✗ txn.2pc", "132ms"},
				{"chart of the selected op", "LATENCY", "consensus.submit (ms)"},
				{"baseline off the scale", "LATENCY", "baseline 100ms (above the chart)"},
				{"chart caption", "p50 and p99", "per tick"},
				{"cpu", "CPU", "85%"},
				{"phantom cpu", "CPU", "41%"},
				{"rss", "MEM", "rss 300MiB"},
				{"memory used missing", "MEM", "used n/a"},
				{"network", "NET", "↓12.0MiB/s ↑11.0MiB/s"},
				{"disk missing", "DISK", "r n/a w n/a"},
				{"cluster nodes", "n1★2", "n1★2 n2★ n3✗"},
				{"cluster figures", "CLUSTER", "2/3 up · 3 shards · leader changes 2 · max lag 17"},
				{"violation event", "00:31 ✗", "violation: txn.2pc avg latency 132ms"},
				{"recovery event", "00:40 ✓", "recovered: consensus.submit"},
				{"footer", "? all keys", "k kill leader"},
				{"tuning line", "TUNE", "nodes ‹3›  clients 8  dur 10s  size 1KiB  rate closed  delay none"},
			}
			for _, w := range wants {
				if l := lineWith(view, w.line); !strings.Contains(l, w.has) {
					t.Errorf("%s: line with %q should contain %q; got %q", w.what, w.line, w.has, l)
				}
			}
			if strings.Contains(view, "used 0B") || strings.Contains(view, "r 0B/s") {
				t.Error("a missing gauge shows as zero")
			}
			if l := lineWith(view, "consensus.submit   71,204"); strings.Contains(l, "✗") {
				t.Errorf("a passing op is marked as violating: %q", l)
			}
			if l := lineWith(view, "consensus.submit   71,204"); !strings.ContainsAny(l, "▁▂▃▄▅▆▇█") {
				t.Errorf("no p99 trend: %q", l)
			}
		})
	}
}

func itoa2(w, h int) string { return strconv.Itoa(w) + "x" + strconv.Itoa(h) }

func TestDashboardViolationRowIsRed(t *testing.T) {
	m := dashboard(t, fixture(), 80, 24)
	m.sh.styles = newStyles(renderer(nil)) // a 256-colour terminal
	red := m.sh.styles.Violation.Render("x")
	if !strings.Contains(red, "\x1b[") {
		t.Fatalf("the ANSI profile renders no colour: %q", red)
	}
	redStart := red[:strings.Index(red, "x")]
	row := lineWith(m.View(), "txn.2pc")
	if !strings.HasPrefix(row, redStart) {
		t.Errorf("violation row not drawn in red (%q): %q", redStart, row)
	}
	if ok := lineWith(m.View(), "consensus.submit   71,204"); strings.HasPrefix(ok, redStart) {
		t.Errorf("passing row drawn in red: %q", ok)
	}
}

func TestDashboardSelectOp(t *testing.T) {
	m := dashboard(t, fixture(), 80, 24)
	for _, step := range []struct {
		key, want string
	}{
		{"down", "txn.2pc"}, {"down", "txn.2pc"}, {"up", "consensus.submit"}, {"up", "consensus.submit"},
		{"down", "txn.2pc"},
	} {
		m = press(t, m, step.key)
		if l := lineWith(m.View(), "LATENCY"); !strings.Contains(l, step.want+" (ms)") {
			t.Fatalf("after %s the chart should show %s: %q", step.key, step.want, l)
		}
		if l := lineWith(m.View(), "›"); !strings.Contains(l, step.want) {
			t.Fatalf("after %s the row of %s should be selected: %q", step.key, step.want, l)
		}
	}
	// txn.2pc is near its 100 ms baseline, so the line is drawn and the
	// chart says the op is over it.
	l := lineWith(m.View(), "LATENCY")
	if !strings.Contains(l, "┄ baseline 100ms") || !strings.Contains(l, "✗ over baseline") {
		t.Errorf("chart title: %q", l)
	}
	if !strings.Contains(m.View(), "┄┄┄┄┄") {
		t.Errorf("baseline not drawn:\n%s", m.View())
	}
	// The selection survives a new snapshot.
	m = update(t, m, tickMsg{id: m.tickID})
	if l := lineWith(m.View(), "LATENCY"); !strings.Contains(l, "txn.2pc") {
		t.Errorf("selection lost on a tick: %q", l)
	}
}

func TestDashboardFitsEverySize(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {100, 30}, {120, 40}, {140, 40}, {160, 48}, {200, 60}, {60, 20}, {80, 12}, {40, 10}, {20, 5}} {
		m := dashboard(t, fixture(), sz.w, sz.h)
		checkFits(t, m.View(), sz.w, sz.h)
		if sz.h >= 12 && !strings.Contains(m.View(), "✗ txn.2pc") {
			t.Errorf("%dx%d: the violating op is not on screen:\n%s", sz.w, sz.h, m.View())
		}
		m = press(t, m, "?")
		checkFits(t, m.View(), sz.w, sz.h)
	}
}

func TestDashboardResize(t *testing.T) {
	m := dashboard(t, fixture(), 160, 48)
	big := m.chart.Height()
	m = update(t, m, sizeMsg(80, 24))
	checkFits(t, m.View(), 80, 24)
	if m.chart.Height() >= big || m.chart.Height() < minChart {
		t.Errorf("chart height %d at 80x24 (was %d at 160x48)", m.chart.Height(), big)
	}
}

func TestDashboardEmptyAndStarting(t *testing.T) {
	start := &metrics.Snapshot{Phase: metrics.PhaseStarting, Planned: 10 * time.Second}
	for _, sz := range sizes {
		m := dashboard(t, start, sz.w, sz.h)
		view := m.View()
		checkFits(t, view, sz.w, sz.h)
		for _, want := range []string{"STARTING", "waiting for the first figures", "CLUSTER starting", "EVENTS none yet", "CPU n/a"} {
			if !strings.Contains(view, want) {
				t.Errorf("%dx%d: no %q in\n%s", sz.w, sz.h, want, view)
			}
		}
	}
}

func TestSummaryView(t *testing.T) {
	f := newFakeRunner(fixture())
	m := press(t, testModel(t, f, 80, 24), "enter")
	done := *fixture()
	done.Phase = metrics.PhaseDone
	f.snap.Store(&done)
	rep := &metrics.Report{ElapsedSeconds: 42, Baselines: []metrics.BaselineReport{
		{Suite: "consensus", Op: "consensus.submit", Metric: metrics.MetricAvgLatency, Limit: 100, Value: 0.28, Unit: "ms", Pass: true},
		{Suite: "txn", Op: "txn.2pc", Metric: metrics.MetricAvgLatency, Limit: 100, Value: 132, Unit: "ms", Pass: false},
	}}
	m = update(t, m, runDoneMsg{id: m.run.id, report: rep})
	if m.screen != screenSummary {
		t.Fatalf("screen %v after the run, want the summary", m.screen)
	}
	view := m.View()
	checkFits(t, view, 80, 24)
	for _, want := range []string{
		"DONE", "RESULT FAIL: a baseline was violated after 42.0s of load",
		"PASS consensus.submit avg latency 280µs < 100ms", "FAIL txn.2pc avg latency 132ms ≥ 100ms",
		"q quits · r sets up a new run",
		"consensus.submit   71,204", // whole-run figures
	} {
		if !strings.Contains(view, want) {
			t.Errorf("no %q in\n%s", want, view)
		}
	}
	if l := lineWith(view, "txn.2pc "); !strings.Contains(l, "41") {
		t.Errorf("the summary should show the whole run's errors (41): %q", l)
	}
}

func TestSummaryFailedRun(t *testing.T) {
	f := newFakeRunner(fixture())
	m := press(t, testModel(t, f, 80, 24), "enter")
	failed := *fixture()
	failed.Phase, failed.Err = metrics.PhaseFailed, "the cluster did not start: port in use"
	f.snap.Store(&failed)
	m = update(t, m, runDoneMsg{id: m.run.id, report: &metrics.Report{Error: failed.Err}})
	view := m.View()
	if !strings.Contains(view, "FAILED: the cluster did not start: port in use") || !strings.Contains(view, "FAILED") {
		t.Errorf("failure not shown:\n%s", view)
	}
}

// The log interleaves the run's events and the UI's notes by time, newest
// at the bottom, within its height.
func TestEventLogMergesNotes(t *testing.T) {
	sh := &shared{styles: newStyles(lipgloss.DefaultRenderer()), width: 80, height: 24}
	e := newEventLog(sh).SetSize(80, 3)
	e, _ = e.Update(snapshotMsg{snap: &metrics.Snapshot{Elapsed: 20 * time.Second, Events: []metrics.Event{
		{At: 10 * time.Second, Message: "a"}, {At: 20 * time.Second, Message: "b"}, {At: 30 * time.Second, Message: "d"},
	}}})
	e = e.Note(metrics.EventError, "c") // at 20s, after b
	got := strings.Split(e.View(), "\n")
	want := []string{"00:20 · b", "00:20 ! c", "00:30 · d"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("log %q, want %q", got, want)
	}
}

// A stall shows in the header within the tick that sees it: ops waiting
// over a second, and how long the oldest has waited; none without one.
func TestHeaderShowsAStall(t *testing.T) {
	snap := fixture()
	if v := dashboard(t, snap, 160, 48).View(); strings.Contains(lineWith(v, "profile custom"), "waiting") {
		t.Errorf("a stall shown with none: %q", lineWith(v, "profile custom"))
	}
	stalled := *snap
	stalled.InFlight = metrics.InFlight{Ops: 8, Waiting: 8, Oldest: 3200 * time.Millisecond}
	if l := lineWith(dashboard(t, &stalled, 160, 48).View(), "profile custom"); !strings.Contains(l, "⚠ 8 waiting 3.20s") {
		t.Errorf("header %q does not show the 8 ops waiting 3.2s", l)
	}
}

// A node in a process of its own shows its process's CPU and memory; an
// embedded one does not.
func TestClusterPanelShowsNodeProcesses(t *testing.T) {
	sh := &shared{styles: newStyles(lipgloss.DefaultRenderer()), width: 120, height: 24}
	c := newClusterPanel(sh).SetSize(120, 3)
	c.c = metrics.Cluster{Nodes: []metrics.Node{
		{ID: "n1", Up: true, State: "up", Leaderships: 1, PID: 4242, CPUPercent: 37.4, RSSBytes: 96 << 20},
		{ID: "n2", Up: true, State: "up"},
	}}
	v := c.View()
	if !strings.Contains(v, "n1★ 37% 96") {
		t.Errorf("no CPU and memory beside n1:\n%s", v)
	}
	if strings.Contains(v, "n2 0%") {
		t.Errorf("figures beside n2, which has no process of its own:\n%s", v)
	}
	if strings.Contains(v, "net") || strings.Contains(v, "disk") {
		t.Errorf("network or disk shown for nodes that measured none:\n%s", v)
	}
	// Its network (in plus out) and disk (read plus written) per second,
	// once measured.
	c.c.Nodes[0].HasNet, c.c.Nodes[0].NetRecvBps, c.c.Nodes[0].NetSentBps = true, 1<<20, 2<<20
	c.c.Nodes[0].HasDisk, c.c.Nodes[0].DiskReadBps, c.c.Nodes[0].DiskWriteBps = true, 0, 512<<10
	if v := c.View(); !strings.Contains(v, "net 3.00MiB/s disk 512KiB/s") {
		t.Errorf("no network and disk beside n1:\n%s", v)
	}
}

// An embedded node's network, the one figure of its own it has, shows
// beside it — without a CPU or memory figure, which would be phantom's —
// once a rate is measured, and not while it is down.
func TestClusterPanelShowsEmbeddedNetwork(t *testing.T) {
	sh := &shared{styles: newStyles(lipgloss.DefaultRenderer()), width: 120, height: 24}
	c := newClusterPanel(sh).SetSize(120, 3)
	c.c = metrics.Cluster{Nodes: []metrics.Node{
		{ID: "n1", Up: true, State: "up", CPUPercent: -1, HasNet: true, NetRecvBps: -1, NetSentBps: -1},
		{ID: "n2", Up: true, State: "up", CPUPercent: -1, HasNet: true, NetRecvBps: 100 << 10, NetSentBps: 412 << 10},
		{ID: "n3", Up: false, State: "up", CPUPercent: -1, HasNet: true, NetRecvBps: 1 << 10, NetSentBps: 1 << 10},
	}}
	v := c.View()
	if !strings.Contains(v, "n2 net 512KiB/s") {
		t.Errorf("no network beside embedded n2:\n%s", v)
	}
	if strings.Count(v, "net") != 1 || strings.Contains(v, "%") || strings.Contains(v, "0B") {
		t.Errorf("figures beside n1 (no rate yet), n3 (down) or a CPU or memory figure:\n%s", v)
	}
}

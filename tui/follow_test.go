package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// suiteRun is a snapshot of a run of cluster, consensus and txn in turn,
// at the suite running: the suites before it finished, their window
// figures gone to zero (as the collector leaves them) and their totals
// kept.
func suiteRun(running string) *metrics.Snapshot {
	order := []string{"cluster", "consensus", "txn"}
	ops := map[string][]metrics.OpSpec{
		"cluster":   {{Name: "cluster.heartbeat", Primary: true}, {Name: "cluster.status", Primary: true}, {Name: "cluster.node_add"}},
		"consensus": {{Name: "consensus.submit", Primary: true}, {Name: "consensus.replicate"}, {Name: "consensus.read"}, {Name: "consensus.election", NoBaseline: true}},
		"txn":       {{Name: "txn.2pc", Primary: true}, {Name: "txn.saga", Primary: true}, {Name: "txn.prepare"}, {Name: "txn.decide"}, {Name: "txn.commit"}, {Name: "txn.compensate"}},
	}
	s := fixture()
	s.Suite, s.Ops, s.Verdicts = running, nil, nil
	for i, suite := range order {
		for j, spec := range ops[suite] {
			spec.Suite = suite
			lat := time.Duration(100*(i+1)+10*j) * time.Microsecond
			total := metrics.Figures{Count: uint64(1000 * (j + 1)), Errors: uint64(j), OpsPerSec: float64(1000 * (i + 1) * (j + 1)),
				Latency: metrics.Latency{Avg: lat, P50: lat, P99: 4 * lat, Max: 10 * lat}}
			o := metrics.OpStats{OpSpec: spec, Total: total, History: []metrics.Point{{At: time.Second, P99: 4 * lat}}}
			if suite == running {
				o.Window = total
			}
			s.Ops = append(s.Ops, o)
		}
		if suite == running {
			break
		}
		s.SuiteEnds = append(s.SuiteEnds, metrics.SuiteEnd{Suite: suite})
	}
	return s
}

// at hands the dashboard a new snapshot, as a tick would.
func at(t *testing.T, m model, s *metrics.Snapshot) model {
	t.Helper()
	m.run.runner.(*fakeRunner).snap.Store(s)
	return update(t, m, tickMsg{id: m.tickID, at: m.now.Add(frame)})
}

func TestChartFollowsTheRunningSuite(t *testing.T) {
	m := dashboard(t, suiteRun("cluster"), 80, 24)
	for _, c := range []struct{ suite, op string }{{"cluster", "cluster.heartbeat"}, {"consensus", "consensus.submit"}, {"txn", "txn.2pc"}} {
		m = at(t, m, suiteRun(c.suite))
		if op, _ := m.table.Selected(); op.Name != c.op {
			t.Errorf("while %s runs the chart shows %s, want %s", c.suite, op.Name, c.op)
		}
		if !strings.Contains(m.View(), c.op+" ") {
			t.Errorf("while %s runs %s is not on screen:\n%s", c.suite, c.op, m.View())
		}
	}
}

func TestUsersPickSticks(t *testing.T) {
	m := dashboard(t, suiteRun("consensus"), 80, 24)
	m = press(t, m, "down") // the user picks consensus.replicate
	op, _ := m.table.Selected()
	if op.Name != "consensus.replicate" {
		t.Fatalf("after down the chart shows %s, want consensus.replicate", op.Name)
	}
	m = at(t, m, suiteRun("txn"))
	// consensus has finished and folded: the pick stays on its suite's line
	// rather than jumping to the running suite.
	op, _ = m.table.Selected()
	if op.Suite != "consensus" {
		t.Errorf("the next suite took the user's pick: the chart shows %s", op.Name)
	}
	if line := lineWith(m.table.View(), "›"); !strings.Contains(line, "consensus") {
		t.Errorf("the selected row is %q, want consensus's", line)
	}
}

// TestFinishedSuitesFold: each finished suite is one line with its final
// figures — its primary ops' throughput, never 0 or – — and the running
// suite's ops all stay on screen at 80×24.
func TestFinishedSuitesFold(t *testing.T) {
	m := dashboard(t, suiteRun("txn"), 80, 24)
	view := m.View()
	t.Log("\n" + view)
	checkFits(t, view, 80, 24)
	for _, want := range []struct{ suite, rate string }{{"cluster", "3,000"}, {"consensus", "2,000"}} {
		line := lineWith(view, "✓ "+want.suite)
		if line == "" {
			t.Fatalf("no folded line for %s:\n%s", want.suite, view)
		}
		if strings.Contains(line, "–") || !strings.Contains(line, want.rate) {
			t.Errorf("%s's folded line lacks its final figures (%s ops/s): %q", want.suite, want.rate, line)
		}
	}
	for _, op := range []string{"cluster.status", "consensus.replicate"} {
		if strings.Contains(view, op) {
			t.Errorf("finished op %s has a line of its own", op)
		}
	}
	for _, op := range []string{"txn.2pc", "txn.saga", "txn.prepare", "txn.decide", "txn.commit", "txn.compensate"} {
		if !strings.Contains(view, op) {
			t.Errorf("running op %s is not on screen", op)
		}
	}
	// The summary shows every op again, on its whole-run figures.
	s := suiteRun("txn")
	s.Phase = metrics.PhaseDone
	m = at(t, m, s)
	if !strings.Contains(m.table.View(), "cluster.status") {
		t.Errorf("the summary folds finished suites:\n%s", m.table.View())
	}
}

// TestTuneLineShowsScriptedChanges: a scripted clients=40 shows on the
// TUNE line as the setting in force, and a value the user has pending is
// not overwritten.
func TestTuneLineShowsScriptedChanges(t *testing.T) {
	s := fixture()
	s.EpochChange = "start"
	m := dashboard(t, s, 80, 24)
	if line := lineWith(m.View(), "TUNE"); !strings.Contains(line, "clients 8 ") {
		t.Fatalf("before the script: %q", line)
	}
	// The script's clients=40 opens epoch 2; the nemesis's delay epoch 3,
	// seen in the same tick.
	s2 := *s
	s2.Epochs = []metrics.Epoch{{Index: 1, Change: "start"}, {Index: 2, Change: "clients=40"}}
	s2.EpochChange = "nemesis net-delay=20ms"
	m = at(t, m, &s2)
	line := lineWith(m.View(), "TUNE")
	if !strings.Contains(line, "clients 40") || !strings.Contains(line, "delay 20ms") {
		t.Errorf("after clients=40 and a nemesis delay the TUNE line says %q", line)
	}
	if got := m.tuning.Applied(knobClients); got != 40 {
		t.Errorf("applied clients %d, want 40", got)
	}
}

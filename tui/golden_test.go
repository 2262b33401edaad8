package tui

import (
	"strconv"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// TestGoldenViews pins every screen at 80×24 and 160×48, drawn from fixed
// snapshots under the ASCII profile (TestMain) with no timers running:
// go test ./tui -run TestGoldenViews -update rewrites them after a
// deliberate change, and the diff is the review.
func TestGoldenViews(t *testing.T) {
	screens := []struct {
		name string
		make func(t *testing.T, w, h int) model
	}{
		{"setup", func(t *testing.T, w, h int) model {
			return press(t, testModel(t, newFakeRunner(fixture()), w, h), "down", "down", "down")
		}},
		{"dashboard", func(t *testing.T, w, h int) model {
			return dashboard(t, fixture(), w, h)
		}},
		{"dashboard-suites", func(t *testing.T, w, h int) model {
			return dashboard(t, suiteRun("txn"), w, h)
		}},
		{"dashboard-retuning", func(t *testing.T, w, h int) model {
			m := dashboard(t, fixture(), w, h)
			return do(t, m, "tab", "right", "k")
		}},
		{"dashboard-paused", func(t *testing.T, w, h int) model {
			s := fixture()
			s.Paused = true
			s.Epochs = []metrics.Epoch{{Index: 1, Change: "start"}}
			return dashboard(t, s, w, h)
		}},
		{"summary", func(t *testing.T, w, h int) model {
			f := newFakeRunner(fixture())
			m := press(t, testModel(t, f, w, h), "enter")
			done := *fixture()
			done.Phase = metrics.PhaseDone
			done.Checks = goldenChecks
			f.snap.Store(&done)
			m = update(t, m, tickMsg{id: m.tickID})
			return update(t, m, runDoneMsg{id: m.run.id, report: goldenReport()})
		}},
		{"help", func(t *testing.T, w, h int) model {
			return press(t, dashboard(t, fixture(), w, h), "?")
		}},
		{"save", func(t *testing.T, w, h int) model {
			return do(t, dashboard(t, fixture(), w, h), "s")
		}},
	}
	for _, sc := range screens {
		for _, sz := range sizes {
			t.Run(sc.name+"-"+strconv.Itoa(sz.w)+"x"+strconv.Itoa(sz.h), func(t *testing.T) {
				view := sc.make(t, sz.w, sz.h).View()
				checkFits(t, view, sz.w, sz.h)
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

// goldenChecks are a finished run's checks: one of each verdict.
var goldenChecks = []metrics.Check{
	{Name: "linearizable", Suite: "consensus", Verdict: metrics.CheckOK, Ops: 41250, Keys: 625},
	{Name: "ledger", Suite: "txn", Verdict: metrics.CheckViolated, Ops: 4700, Keys: 200, Detail: "bank/3 is 7, want 8"},
	{Name: "counters", Suite: "concurrency", Verdict: metrics.CheckUnknown, Ops: 1700, Keys: 64, Detail: "1 transaction of unknown outcome"},
}

// goldenReport is a finished run's report: one baseline violated, one
// check too.
func goldenReport() *metrics.Report {
	return &metrics.Report{
		Checks:         goldenChecks,
		Schema:         metrics.ReportSchema,
		ElapsedSeconds: 60,
		Baselines: []metrics.BaselineReport{
			{Suite: "consensus", Op: "consensus.submit", Metric: metrics.MetricAvgLatency, Limit: 100, Value: 0.28, Unit: "ms", Pass: true},
			{Suite: "txn", Op: "txn.2pc", Metric: metrics.MetricAvgLatency, Limit: 100, Value: 132, Unit: "ms", Pass: false},
		},
	}
}

// BenchmarkDashboardView is the full dashboard's frame at 160×48 and
// 80×24: the work of one redraw, ten of which a second the UI costs.
func BenchmarkDashboardView(b *testing.B) {
	for _, sz := range sizes {
		b.Run(strconv.Itoa(sz.w)+"x"+strconv.Itoa(sz.h), func(b *testing.B) {
			f := newFakeRunner(fixture())
			next, _ := newModel(suites.DefaultConfig(), fakeDeps(f)).Update(sizeMsg(sz.w, sz.h))
			next, _ = next.Update(keyMsg("enter"))
			m := next.(model)
			next, _ = m.Update(tickMsg{id: m.tickID, at: time.Unix(1, 0)})
			m = next.(model)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

// BenchmarkFrame is one tick's whole work at 160×48: take a new snapshot
// (as the runner publishes one per tick), hand it to every component and
// draw. Ten of these a second is what the dashboard costs.
func BenchmarkFrame(b *testing.B) {
	f := newFakeRunner(fixture())
	next, _ := newModel(suites.DefaultConfig(), fakeDeps(f)).Update(sizeMsg(160, 48))
	next, _ = next.Update(keyMsg("enter"))
	m := next.(model)
	snaps := [2]*metrics.Snapshot{fixture(), fixture()}
	snaps[1].Seq++
	at := time.Unix(1, 0)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f.snap.Store(snaps[i%2])
		at = at.Add(frame)
		next, _ = m.Update(tickMsg{id: m.tickID, at: at})
		m = next.(model)
		_ = m.View()
		i++
	}
}

package tui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

func TestPlotGuard(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name   string
		series [][]float64
	}{
		{"no series", nil},
		{"empty series", [][]float64{{}}},
		{"several empty series", [][]float64{{}, {}, {}}},
		{"one point", [][]float64{{3.5}}},
		{"one point and empty", [][]float64{{3.5}, {}}},
		{"constant", [][]float64{{2, 2, 2, 2}}},
		{"constant zero", [][]float64{{0, 0, 0}}},
		{"constant negative", [][]float64{{-4, -4}}},
		{"all NaN", [][]float64{{nan, nan, nan}}},
		{"NaN inside", [][]float64{{1, nan, 3, nan}}},
		{"NaN first", [][]float64{{nan, 1, 2}}},
		{"infinities", [][]float64{{inf, 1, math.Inf(-1), 2}}},
		{"only infinities", [][]float64{{inf, inf}}},
		{"huge", [][]float64{{1e300, -1e300, 5}}},
		{"ragged lengths", [][]float64{{1, 2, 3, 4, 5, 6}, {2}, {}}},
		{"longer than the plot", [][]float64{make([]float64, 1000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Too small for any label: it must not panic, nor overflow.
			tiny, _, _ := plot(tt.series, plotOptions{width: 8, height: 2})
			checkFits(t, tiny, 8, 2)
			for _, sz := range []struct{ w, h int }{{60, 8}, {20, 3}, {200, 40}} {
				out, _, _ := plot(tt.series, plotOptions{width: sz.w, height: sz.h})
				if !strings.ContainsAny(out, "┤┼") {
					t.Fatalf("%dx%d: nothing drawn: %q", sz.w, sz.h, out)
				}
				if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
					t.Errorf("%dx%d: a non-finite label: %q", sz.w, sz.h, out)
				}
				checkFits(t, out, sz.w, sz.h)
			}
		})
	}
}

func TestPlotConstantSeriesHasARange(t *testing.T) {
	out, _, _ := plot([][]float64{{2, 2, 2, 2}}, plotOptions{width: 40, height: 5})
	// The y axis runs from zero to the value, and the line is drawn.
	if !strings.Contains(out, "2.00") || !strings.Contains(out, "0.00") || !strings.Contains(out, "───") {
		t.Errorf("constant series:\n%s", out)
	}
	if got := strings.Count(out, "\n") + 1; got != 5 {
		t.Errorf("%d lines, want 5:\n%s", got, out)
	}
}

func TestPlotShowsNewestPoints(t *testing.T) {
	s := make([]float64, 500)
	s[len(s)-1] = 9 // only the newest point is high
	out, shown, _ := plot([][]float64{s}, plotOptions{width: 50, height: 6})
	if shown >= 500 || shown < 40 {
		t.Errorf("drew %d points in 50 columns", shown)
	}
	if !strings.Contains(out, "9.00") {
		t.Errorf("newest point cut off:\n%s", out)
	}
}

func TestChartHistories(t *testing.T) {
	point := func(p50, p99 float64) metrics.Point {
		return metrics.Point{At: time.Second, P50: time.Duration(p50 * float64(time.Millisecond)), P99: time.Duration(p99 * float64(time.Millisecond))}
	}
	tests := []struct {
		name string
		hist []metrics.Point
		has  string
	}{
		{"empty", nil, "waiting for the first tick"},
		{"one point", []metrics.Point{point(1, 2)}, "first tick"},
		{"constant", []metrics.Point{point(1, 1), point(1, 1), point(1, 1)}, "1.00"},
		{"zeros", []metrics.Point{point(0, 0), point(0, 0)}, "0.00"},
		{"near the baseline", []metrics.Point{point(60, 90), point(70, 120)}, "┄ baseline 100ms"},
	}
	sh := &shared{styles: newStyles(lipgloss.DefaultRenderer()), keys: DefaultKeyMap()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			small := newLatencyChart(sh, 100*time.Millisecond).SetSize(30, 4)
			small = small.SetOp(metrics.OpStats{OpSpec: metrics.OpSpec{Name: "op"}, History: tt.hist}, true, false)
			checkFits(t, small.View(), 30, 4)
			for _, sz := range []struct{ w, h int }{{80, 14}, {96, 42}} {
				c := newLatencyChart(sh, 100*time.Millisecond).SetSize(sz.w, sz.h)
				c = c.SetOp(metrics.OpStats{OpSpec: metrics.OpSpec{Name: "op"}, History: tt.hist}, true, false)
				view := c.View()
				checkFits(t, view, sz.w, sz.h)
				if !strings.Contains(view, tt.has) || !strings.Contains(view, "┤") {
					t.Errorf("%dx%d: no %q or no axis:\n%s", sz.w, sz.h, tt.has, view)
				}
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		vs    []float64
		width int
		want  string
	}{
		{"empty", nil, 5, ""},
		{"rising", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 8, "▁▂▃▄▅▆▇█"},
		{"newest kept", []float64{9, 9, 0, 1}, 2, "▁█"},
		{"flat", []float64{3, 3, 3}, 5, "▄▄▄"},
		{"all zero", []float64{0, 0}, 5, "▁▁"},
		{"a gap for NaN", []float64{0, nan, 1}, 5, "▁ █"},
		{"no room", []float64{1, 2}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sparkline(tt.vs, tt.width); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

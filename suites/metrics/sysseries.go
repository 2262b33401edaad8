package metrics

import (
	"math"
	"time"
)

// SystemPoint is the system gauges averaged over one step of the run's
// resource series, the step ending At. A gauge with no reading in the
// step is NaN: n/a, never 0.
type SystemPoint struct {
	At                                                               time.Duration // since the run's load started
	CPU, ProcessCPU, RSS, MemUsed, NetRx, NetTx, DiskRead, DiskWrite float64
}

// SystemSeries gathers the system samples of the load's ticks into points
// of step ticks each, for the reports' resource charts. One goroutine
// adds; the points it returns are shared and never changed.
type SystemSeries struct {
	step   int
	n      int
	sum    [8]float64
	cnt    [8]int
	points []SystemPoint
}

// NewSystemSeries makes a series of one point per step samples.
func NewSystemSeries(step int) *SystemSeries { return &SystemSeries{step: max(step, 1)} }

// Add folds one sample taken at, since the load started, into the series.
func (s *SystemSeries) Add(at time.Duration, sys System) {
	for k, g := range [8]Gauge{sys.CPU, sys.ProcessCPU, sys.RSS, sys.MemUsed, sys.NetRx, sys.NetTx, sys.DiskRead, sys.DiskWrite} {
		if g.OK {
			s.sum[k] += g.Value
			s.cnt[k]++
		}
	}
	s.n++
	if s.n < s.step {
		return
	}
	var v [8]float64
	for k := range v {
		v[k] = math.NaN()
		if s.cnt[k] > 0 {
			v[k] = s.sum[k] / float64(s.cnt[k])
		}
	}
	s.points = append(s.points, SystemPoint{At: at, CPU: v[0], ProcessCPU: v[1], RSS: v[2], MemUsed: v[3], NetRx: v[4], NetTx: v[5], DiskRead: v[6], DiskWrite: v[7]})
	s.n, s.sum, s.cnt = 0, [8]float64{}, [8]int{}
}

// Points returns the closed points, oldest first.
func (s *SystemSeries) Points() []SystemPoint {
	if s == nil {
		return nil
	}
	return s.points[:len(s.points):len(s.points)]
}

// MaxSeriesPoints bounds the points of each op's series and of the
// resource series over a suite's planned duration: ten minutes at the
// default 250 ms tick is 2,400 ticks, kept as 600 points of one second.
const MaxSeriesPoints = 600

// SeriesStep is the ticks per series point for suites of duration d at
// tick t: one point per tick, or as few ticks as keep a suite within
// MaxSeriesPoints.
func SeriesStep(d, t time.Duration) int {
	if t <= 0 || d <= 0 {
		return 1
	}
	ticks := int((d + t - 1) / t)
	return max(1, (ticks+MaxSeriesPoints-1)/MaxSeriesPoints)
}

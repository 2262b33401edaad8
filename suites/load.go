package suites

import (
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// loadTracker is the load the run applies now — clients, the open loop's
// rate and schedule, the data size, whether it is paused — which live
// changes alter and each suite starts from, and the open loop's lateness
// summed over the suites. Only the runner's goroutine touches its fields;
// the pacer is shared with the clients, through its atomics.
type loadTracker struct {
	clients  int
	rate     float64 // open-loop iterations per second; 0 in the closed loop
	dataSize int
	paused   bool

	pace       *pacer // the running suite's schedule; nil in the closed loop and between suites
	lateBefore uint64 // late iterations of the suites already run
	figures    metrics.Load
}

// startPace starts the running suite's schedule from begun, in the open
// loop.
func (l *loadTracker) startPace(begun time.Time) {
	l.pace = newPacer(l.rate, l.clients, begun)
}

// stopPace keeps the ended suite's lateness and drops its schedule.
func (l *loadTracker) stopPace() {
	if l.pace == nil {
		return
	}
	l.view(time.Now())
	l.lateBefore = l.figures.Late
	l.pace = nil
}

// view sums the schedule's state at now for a snapshot; late and the
// worst lag accumulate over the run's suites. A paused schedule is behind
// by nothing: resuming shifts it by the pause.
func (l *loadTracker) view(now time.Time) metrics.Load {
	l.figures.TargetRate = l.rate
	l.figures.Lag = 0
	if l.pace != nil && !l.paused {
		late, lag, worst := l.pace.state(now)
		l.figures.Late = l.lateBefore + late
		l.figures.Lag = lag
		l.figures.MaxLag = max(l.figures.MaxLag, worst)
	}
	return l.figures
}

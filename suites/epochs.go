package suites

import (
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// epochBook splits the run into epochs, one per live change: the closed
// ones with their figures, and the current one's start and the change that
// opened it, "start" for the first. Only the runner's goroutine touches it.
type epochBook struct {
	closed []metrics.Epoch
	start  time.Duration // since the load started
	change string
	// timeouts are the Raft timeouts in force when the current epoch
	// opened.
	timeouts metrics.RaftTimeouts
}

// close records the current epoch, ending at end, with the figures ops
// hold for it.
func (b *epochBook) close(end time.Duration, ops []metrics.OpStats) {
	e := epochOf(len(b.closed)+1, b.start, end, b.change, ops)
	e.Timeouts = b.timeouts
	b.closed = append(b.closed, e)
}

// open starts the next epoch at at, for change, with the Raft timeouts in
// force then, and returns its number.
func (b *epochBook) open(at time.Duration, change string, timeouts metrics.RaftTimeouts) int {
	b.start, b.change, b.timeouts = at, change, timeouts
	return len(b.closed) + 1
}

// view is the closed epochs, for a snapshot: capped, so that no later
// close reaches what the snapshot holds.
func (b *epochBook) view() []metrics.Epoch { return b.closed[:len(b.closed):len(b.closed)] }

// epochOf is an epoch with the figures ops hold for it, leaving out the
// ops that did nothing in it.
func epochOf(index int, start, end time.Duration, change string, ops []metrics.OpStats) metrics.Epoch {
	e := metrics.Epoch{Index: index, Start: start, End: end, Change: change}
	for _, o := range ops {
		if o.Epoch.Count > 0 || o.Epoch.Errors > 0 || o.Epoch.Elapsed > 0 {
			e.Ops = append(e.Ops, metrics.EpochOp{Name: o.Name, Suite: o.Suite, Figures: o.Epoch})
		}
	}
	return e
}

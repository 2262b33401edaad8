package suites

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// lateAfter is how far behind its schedule an iteration must start to
// count as late.
const lateAfter = time.Millisecond

// pacer is the open loop's schedule, after wrk2: each of C clients runs
// iterations at rate/C per second, at intended times fixed from the start
// and staggered between clients. A client that falls behind starts its next
// iteration at once and keeps the schedule's times — the rate is never
// lowered — and every op of a late iteration counts the delay in its
// latency, so a stall shows in the percentiles (coordinated omission).
type pacer struct {
	interval time.Duration // between one client's iterations
	begun    time.Time
	clients  []paceState
}

// paceState is one client's standing against the schedule, written by that
// client and read by the tick goroutine.
type paceState struct {
	late  atomic.Uint64
	lagNs atomic.Int64 // how far behind the client is now
	worst atomic.Int64
	_     [40]byte // keep clients' counters on separate cache lines
}

// newPacer returns the schedule for rate iterations per second over
// clients, or nil for the closed loop.
func newPacer(rate float64, clients int, begun time.Time) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{
		interval: time.Duration(float64(clients) / rate * float64(time.Second)),
		begun:    begun,
		clients:  make([]paceState, clients),
	}
}

// run drives client id on the schedule until ctx ends.
func (p *pacer) run(ctx context.Context, id int, rec *metrics.Recorder, c Client) {
	st := &p.clients[id]
	// Stagger the clients over one interval so their starts interleave.
	next := p.begun.Add(p.interval * time.Duration(id) / time.Duration(len(p.clients)))
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for ctx.Err() == nil {
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		lag := time.Since(next)
		st.lagNs.Store(int64(lag))
		if lag > lateAfter {
			st.late.Add(1)
			if int64(lag) > st.worst.Load() {
				st.worst.Store(int64(lag))
			}
		}
		rec.SetLag(lag)
		c.Do(ctx, rec)
		next = next.Add(p.interval)
	}
}

// state sums the clients: late iterations, the furthest behind any client
// is now, and the furthest any has been.
func (p *pacer) state() (late uint64, lag, worst time.Duration) {
	for i := range p.clients {
		st := &p.clients[i]
		late += st.late.Load()
		lag = max(lag, time.Duration(st.lagNs.Load()))
		worst = max(worst, time.Duration(st.worst.Load()))
	}
	return late, lag, worst
}

package suites

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
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
//
// The rate and the number of clients can change while it runs; each client
// spaces its next iteration by the interval in force when it schedules it.
// A pause shifts every schedule by its length, so resuming is no burst.
type pacer struct {
	begun    time.Time
	rateBits atomic.Uint64 // float64 iterations per second
	clients  atomic.Int64
	shiftNs  atomic.Int64 // total pause time, added to every intended time

	mu     sync.Mutex
	states []*paceState
}

// paceState is one client's standing against the schedule, written by that
// client and read by the tick goroutine.
type paceState struct {
	late  atomic.Uint64
	worst atomic.Int64 // the furthest behind the client has started
	// nextNs is the intended start (unix nanoseconds, before shifts) of
	// the client's next iteration, which has not started; 0 once the
	// client stopped. A client stuck in an op leaves it in the past, so
	// the tick sees the schedule's lag grow while nothing starts.
	nextNs atomic.Int64
}

// newPacer returns the schedule for rate iterations per second over
// clients, or nil for the closed loop.
func newPacer(rate float64, clients int, begun time.Time) *pacer {
	if rate <= 0 {
		return nil
	}
	p := &pacer{begun: begun}
	p.setRate(rate)
	p.clients.Store(int64(clients))
	return p
}

func (p *pacer) setRate(rate float64) { p.rateBits.Store(math.Float64bits(rate)) }

func (p *pacer) interval() time.Duration {
	return time.Duration(float64(p.clients.Load()) / math.Float64frombits(p.rateBits.Load()) * float64(time.Second))
}

// schedule is one client's place in the pacer.
type schedule struct {
	p     *pacer
	st    *paceState
	next  time.Time // intended start of the next iteration, before shifts
	timer *time.Timer
}

// schedule starts client id's schedule, staggered among the clients, from
// from (the suite's start, or now for a client added later).
func (p *pacer) schedule(id int, from time.Time) *schedule {
	st := &paceState{}
	p.mu.Lock()
	p.states = append(p.states, st)
	p.mu.Unlock()
	iv := p.interval()
	s := &schedule{p: p, st: st, next: from.Add(iv * time.Duration(id) / time.Duration(max(p.clients.Load(), 1))), timer: time.NewTimer(time.Hour)}
	s.timer.Stop()
	st.nextNs.Store(s.next.UnixNano())
	return s
}

// wait sleeps until the next intended start and returns how late the
// iteration starts; false when ctx ended first.
func (s *schedule) wait(ctx context.Context) (time.Duration, bool) {
	intended := s.next.Add(time.Duration(s.p.shiftNs.Load()))
	if d := time.Until(intended); d > 0 {
		s.timer.Reset(d)
		select {
		case <-ctx.Done():
			s.timer.Stop()
			return 0, false
		case <-s.timer.C:
		}
		intended = s.next.Add(time.Duration(s.p.shiftNs.Load()))
	}
	lag := max(time.Since(intended), 0)
	if lag > lateAfter {
		s.st.late.Add(1)
		if int64(lag) > s.st.worst.Load() {
			s.st.worst.Store(int64(lag))
		}
	}
	s.next = s.next.Add(s.p.interval())
	s.st.nextNs.Store(s.next.UnixNano())
	return lag, true
}

func (s *schedule) stop() {
	s.timer.Stop()
	s.st.nextNs.Store(0)
}

// state sums the clients at now: late iterations; lag, how long ago the
// oldest scheduled iteration not yet started was due (0 when none is
// due), which grows while a stall keeps every client from starting; and
// the furthest behind any client has been, lag included.
func (p *pacer) state(now time.Time) (late uint64, lag, worst time.Duration) {
	shift := p.shiftNs.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.states {
		late += st.late.Load()
		if next := st.nextNs.Load(); next != 0 {
			lag = max(lag, time.Duration(now.UnixNano()-(next+shift)))
		}
		worst = max(worst, time.Duration(st.worst.Load()))
	}
	return late, lag, max(worst, lag)
}

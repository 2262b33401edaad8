package suites

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// suiteRun is the state of the suite that is running: its clients and its
// clock, which live changes act on. The runner's goroutine owns it; the
// clients read only gate, and their schedules from the run's pacer.
type suiteRun struct {
	x       *run
	suite   Suite
	w       Workload
	first   int      // the suite's first op in the collector
	n       int      // how many ops it has
	primary int      // the op, of its n, a timed-out iteration counts against
	cut     cutShort // the iterations the end of the load cut short
	lctx    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	begun   time.Time
	clients []context.CancelFunc // one per client, in id order
	nextID  int

	duration time.Duration // may change live
	end      *time.Timer
	pausedAt time.Time // zero when not paused
	paused   time.Duration
	gate     atomic.Pointer[chan struct{}] // non-nil while paused: closed on resume
}

// finish ends the suite's load; the clients drain. Any goroutine may call
// it: it is Env.End.
func (sr *suiteRun) finish() { sr.stop() }

// pace is the open loop's schedule, nil in the closed loop.
func (sr *suiteRun) pace() *pacer { return sr.x.load.pace }

// loadTime is how long the suite has run at now, pauses left out.
func (sr *suiteRun) loadTime(now time.Time) time.Duration { return now.Sub(sr.begun) - sr.paused }

// addClient starts one more load client; its schedule, in the open loop,
// starts from from.
func (sr *suiteRun) addClient(from time.Time) {
	x := sr.x
	id := sr.nextID
	sr.nextID++
	cctx, cancel := context.WithCancel(sr.lctx)
	sr.clients = append(sr.clients, cancel)
	rec := x.collector.NewRecorder(sr.first, sr.n)
	c := sr.w.Client(id)
	var sched *schedule
	if p := sr.pace(); p != nil {
		sched = p.schedule(id, from)
	}
	sr.wg.Add(1)
	fl := x.flights.add(cctx)
	go func() {
		defer sr.wg.Done()
		defer rec.Close()
		defer x.recoverClient(sr.stop)
		defer x.flights.remove(fl)
		if sched != nil {
			defer sched.stop()
		}
		for cctx.Err() == nil {
			if g := sr.gate.Load(); g != nil {
				select {
				case <-*g:
				case <-cctx.Done():
					return
				}
			}
			if sched != nil {
				lag, ok := sched.wait(cctx)
				if !ok {
					return
				}
				rec.SetLag(lag)
			}
			c.Do(fl.begin(), rec)
			age, timedOut := fl.end(cctx)
			if sr.lctx.Err() != nil {
				sr.cut.add(age) // in flight when the load ended
				return
			}
			if timedOut && cctx.Err() == nil {
				// The tick cancelled the iteration past the op timeout;
				// the suite left the cut-short op out, as it does any
				// the run ended, so the timeout is counted here.
				rec.FailErr(sr.primary, metrics.ErrTimeout, errIterationTimedOut)
			}
		}
	}()
}

// startProbe starts the workload's extra worker, which runs until the
// suite's load ends.
func (sr *suiteRun) startProbe(p Prober) {
	rec := sr.x.collector.NewRecorder(sr.first, sr.n)
	sr.wg.Add(1)
	go func() {
		defer sr.wg.Done()
		defer rec.Close()
		defer sr.x.recoverClient(sr.stop)
		p.Probe(sr.lctx, rec)
	}()
}

// setClients grows or shrinks the running clients to n; removed clients
// finish the op they are in.
func (sr *suiteRun) setClients(n int) {
	if p := sr.pace(); p != nil {
		p.clients.Store(int64(n))
	}
	for len(sr.clients) < n {
		sr.addClient(time.Now())
	}
	for len(sr.clients) > n {
		last := len(sr.clients) - 1
		sr.clients[last]()
		sr.clients = sr.clients[:last]
	}
}

// setDuration makes d the suite's duration; a duration already run ends
// the suite now.
func (sr *suiteRun) setDuration(d time.Duration) {
	sr.duration = d
	if d <= sr.loadTime(time.Now()) {
		sr.finish()
		return
	}
	if sr.pausedAt.IsZero() {
		sr.resetEnd()
	}
}

// pause holds every client before its next iteration and stops the
// suite's clocks, so rates and the duration count only load time.
func (sr *suiteRun) pause() bool {
	if !sr.pausedAt.IsZero() {
		return false
	}
	g := make(chan struct{})
	sr.gate.Store(&g)
	sr.pausedAt = time.Now()
	sr.x.load.paused = true
	sr.end.Stop()
	sr.x.collector.Deactivate(sr.first, sr.n)
	return true
}

// resume lets the clients go on, shifting the open loop's schedule by the
// pause so that it does not burst.
func (sr *suiteRun) resume() bool {
	if sr.pausedAt.IsZero() {
		return false
	}
	d := time.Since(sr.pausedAt)
	sr.paused += d
	if p := sr.pace(); p != nil {
		p.shiftNs.Add(int64(d))
	}
	sr.pausedAt = time.Time{}
	sr.x.load.paused = false
	g := sr.gate.Swap(nil)
	close(*g)
	sr.x.collector.Activate(sr.first, sr.n)
	sr.resetEnd()
	return true
}

// resetEnd re-arms the end of the suite for its duration, counting only
// unpaused time.
func (sr *suiteRun) resetEnd() {
	sr.end.Stop()
	left := sr.duration - sr.loadTime(time.Now())
	sr.end.Reset(max(left, 0))
}

// cutShort counts the iterations in flight when a suite's load ended, and
// the oldest one's age; their clients add to it as they drain.
type cutShort struct {
	ops, waiting atomic.Int64
	oldestNs     atomic.Int64
}

func (c *cutShort) add(age time.Duration) {
	c.ops.Add(1)
	if age > metrics.StallAfter {
		c.waiting.Add(1)
	}
	for {
		old := c.oldestNs.Load()
		if int64(age) <= old || c.oldestNs.CompareAndSwap(old, int64(age)) {
			return
		}
	}
}

func (c *cutShort) view() metrics.InFlight {
	return metrics.InFlight{Ops: int(c.ops.Load()), Waiting: int(c.waiting.Load()), Oldest: time.Duration(c.oldestNs.Load())}
}

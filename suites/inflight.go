package suites

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// errOpTimeout is the cause of an iteration the runner cancelled because
// it ran past the op timeout.
var errOpTimeout = fmt.Errorf("op timeout: %w", context.DeadlineExceeded)

// flights are the load clients' iterations in progress, which the tick
// reads so that a stall shows within one tick and no op waits past its
// deadline unseen. Each client owns one flight and publishes its current
// iteration's start in an atomic: an iteration costs two atomic stores and
// no lock, channel send or allocation. Only a client joining or leaving
// takes the mutex.
type flights struct {
	base time.Time // starts are nanoseconds since base, plus one, so 0 is idle

	mu   sync.Mutex
	list []*flight
}

func newFlights() *flights { return &flights{base: time.Now()} }

// flight is one client's iteration in progress.
type flight struct {
	f *flights
	// startNs is when the running iteration started (see flights.base),
	// 0 between iterations, and negated once the tick has timed it out.
	startNs atomic.Int64

	last int64 // the start of the owner's latest iteration; owner only

	// mu orders a time-out against the client renewing its context; it is
	// taken only when an iteration times out.
	mu     sync.Mutex
	ctx    context.Context // the context the client's iterations run under
	cancel context.CancelCauseFunc
}

// add starts tracking a client whose iterations run under parent.
func (fs *flights) add(parent context.Context) *flight {
	fl := &flight{f: fs}
	fl.ctx, fl.cancel = context.WithCancelCause(parent)
	fs.mu.Lock()
	fs.list = append(fs.list, fl)
	fs.mu.Unlock()
	return fl
}

// remove stops tracking fl; its client has stopped.
func (fs *flights) remove(fl *flight) {
	fs.mu.Lock()
	for i, x := range fs.list {
		if x == fl {
			fs.list = append(fs.list[:i], fs.list[i+1:]...)
			break
		}
	}
	fs.mu.Unlock()
	fl.mu.Lock()
	fl.cancel(nil)
	fl.mu.Unlock()
}

// begin publishes that an iteration starts now and returns the context it
// runs under. Owner client only.
func (fl *flight) begin() context.Context {
	fl.last = int64(time.Since(fl.f.base)) + 1
	fl.startNs.Store(fl.last)
	return fl.ctx // only the owner writes ctx, under mu, after end
}

// end publishes that the iteration returned, and returns how long it ran
// and whether the tick timed it out first; the client then records the
// timeout, and its next iteration runs under a fresh context. Owner client
// only.
func (fl *flight) end(parent context.Context) (age time.Duration, timedOut bool) {
	age = time.Duration(int64(time.Since(fl.f.base)) + 1 - fl.last)
	if fl.startNs.Swap(0) >= 0 {
		return age, false
	}
	fl.mu.Lock()
	fl.cancel(errOpTimeout) // the tick has, or will have under mu: make sure
	fl.ctx, fl.cancel = context.WithCancelCause(parent)
	fl.mu.Unlock()
	return age, true
}

// check reads every flight at now: how many iterations run, how many have
// waited over StallAfter, the oldest's age. An iteration older than limit
// (when above 0) is cancelled: its client records a timeout.
func (fs *flights) check(now time.Time, limit time.Duration) metrics.InFlight {
	at := int64(now.Sub(fs.base)) + 1
	var v metrics.InFlight
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, fl := range fs.list {
		start := fl.startNs.Load()
		if start == 0 {
			continue
		}
		if start < 0 {
			start = -start // timed out, not yet returned: still in flight
		}
		age := time.Duration(max(at-start, 0))
		v.Ops++
		if age > metrics.StallAfter {
			v.Waiting++
		}
		v.Oldest = max(v.Oldest, age)
		if limit > 0 && age > limit {
			fl.timeOut(start)
		}
	}
	return v
}

// timeOut cancels the iteration that started at start, if it is still
// the one running.
func (fl *flight) timeOut(start int64) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.startNs.CompareAndSwap(start, -start) {
		fl.cancel(errOpTimeout)
	}
}

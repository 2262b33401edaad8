// Package etcdcmp measures a 3-member etcd cluster on this machine under the
// load phantom's consensus benchmark puts on PhantomDB (64 clients, 128-byte
// puts), so the two can be compared side by side in one run. Its closed-loop
// driver, Run, is independent of etcd so the other side of a comparison can
// be driven by the same loop.
package etcdcmp

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what a fixed-time closed-loop run measured.
type Result struct {
	Clients int
	// Ops counts the operations that started and completed inside the
	// measured window; Errors those that failed there.
	Ops, Errors int64
	// Elapsed is the measured window.
	Elapsed time.Duration
	// Latency holds the successful operations' latencies, in µs.
	Latency *hdrhistogram.Histogram
	// FirstErr is the first error seen, to say why Errors is not zero.
	FirstErr error
}

// Rate is completed operations per second over the measured window.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// OpTimeout bounds each operation, so a stalled cluster ends the run with
// errors instead of hanging it.
const OpTimeout = 5 * time.Second

// Run drives op from clients closed loops (each starts its next operation
// when the last one returns) for warmup and then d, and measures the
// operations that start and end inside d. Each client keeps its own
// histogram and counters; they are merged once at the end, so the loop
// shares nothing between clients.
func Run(ctx context.Context, clients int, warmup, d time.Duration, op func(ctx context.Context, client int) error) Result {
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+d)
	type tally struct {
		ops, errs int64
		first     error
		h         *hdrhistogram.Histogram
	}
	tallies := make([]tally, clients)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		tallies[c].h = newHist()
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			t := &tallies[c]
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					return
				}
				octx, cancel := context.WithTimeout(ctx, OpTimeout)
				err := op(octx, c)
				cancel()
				t1 := time.Now()
				if t0.Before(from) || t1.After(to) {
					continue
				}
				if err != nil {
					t.errs++
					if t.first == nil && !errors.Is(err, context.Canceled) {
						t.first = err
					}
					continue
				}
				t.ops++
				_ = t.h.RecordValue(t1.Sub(t0).Microseconds())
			}
		}(c)
	}
	wg.Wait()
	r := Result{Clients: clients, Elapsed: d, Latency: newHist()}
	for _, t := range tallies {
		r.Ops += t.ops
		r.Errors += t.errs
		if r.FirstErr == nil {
			r.FirstErr = t.first
		}
		r.Latency.Merge(t.h)
	}
	return r
}

// newHist records 1 µs to 60 s at 3 significant figures.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

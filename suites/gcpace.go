package suites

import (
	"context"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// The Go collector's pacing while a run lasts.
//
// At GOGC=100 the runtime collects each time the heap doubles its live
// data. A run's process is mostly an embedded cluster whose every write
// allocates its command, its log entry on each replica and raft's own
// bookkeeping, so at small values the collector took 10–15% of the CPU
// that the cluster needs. The run has a memory budget, and the runtime is
// told it as its memory limit (run.do); below that limit the spare room
// is spent on collecting less often: GOGC is set each tick so that the
// heap may grow to gcHeapShare of the budget, from 100 (never more
// often than the default) to gcMaxPercent. As the live data nears
// gcHeapShare/2 of the budget, GOGC comes back to 100, and the memory
// limit takes over from there as before. The heap thus stays under the
// memory bottleneck rule's 85%, and RSS under the budget.
//
// A GOGC set in the environment is the user's choice and is left alone.
const (
	gcHeapShare  = 0.6
	gcMaxPercent = 400
	// gcRepace is the smallest relative change of the percent worth
	// telling the runtime.
	gcRepace = 0.1
)

// gcPercentFor is the GOGC that lets a heap of live bytes grow to
// gcHeapShare of budget, within [100, gcMaxPercent].
func gcPercentFor(live, budget int64) int {
	if budget <= 0 {
		return 100
	}
	if live <= 0 {
		return gcMaxPercent
	}
	p := 100 * (gcHeapShare*float64(budget)/float64(live) - 1)
	return int(min(max(p, 100), gcMaxPercent))
}

// startGCPacer sets GOGC from the live heap every tick until stop is
// called, which puts the previous GOGC back.
func startGCPacer(budget int64, tick time.Duration) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set || budget <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	pace := func() int {
		rtmetrics.Read(sample)
		if sample[0].Value.Kind() != rtmetrics.KindUint64 {
			return 100
		}
		return gcPercentFor(int64(sample[0].Value.Uint64()), budget)
	}
	cur := pace()
	prev := debug.SetGCPercent(cur)
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		defer done.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if p := pace(); float64(abs(p-cur)) >= gcRepace*float64(cur) {
				debug.SetGCPercent(p)
				cur = p
			}
		}
	}()
	return func() {
		cancel()
		done.Wait()
		debug.SetGCPercent(prev)
	}
}

func abs(n int) int { return max(n, -n) }

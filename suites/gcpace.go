package suites

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
)

// The Go collector's pacing while a run lasts.
//
// At GOGC=100 the runtime collects each time the heap doubles its live
// data. A run's process is mostly an embedded cluster whose every write
// allocates its command, its log entry on each replica and raft's own
// bookkeeping, so at small values the collector took 10–15% of the CPU
// that the cluster needs. The run has a memory budget, and the runtime is
// told it as its memory limit (run.do); below that limit the spare room
// is spent on collecting less often: after each collection GOGC is set so
// that the heap may grow to gcHeapShare of the budget before the next,
// from 100 (never more often than the default) to gcMaxPercent. As the
// live data nears gcHeapShare/2 of the budget, GOGC comes back to 100,
// and the memory limit takes over from there as before. The heap thus
// stays under the memory bottleneck rule's 85%, and RSS under the budget.
//
// The pace is set after every collection, not every tick: at 1 MiB values
// the live heap can double between two ticks, and a GOGC set for the live
// heap of a second ago would let the heap run to the memory limit.
//
// A GOGC set in the environment is the user's choice and is left alone.
const (
	gcHeapShare  = 0.6
	gcMaxPercent = 400
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

// gcPacer sets GOGC after each collection, from a finalizer on an object
// it keeps unreachable (gcSentinel): the runtime runs it once the
// collection that found it unreachable is over, and it arms the next.
type gcPacer struct {
	budget int64
	prev   int // GOGC before the pacer, restored by stop

	mu      sync.Mutex
	stopped bool
	cur     int
	sample  []rtmetrics.Sample
}

// gcSentinel carries a pointer, so it is never one of the tiny objects
// the runtime packs together, whose finalizers may never run.
type gcSentinel struct{ p *gcPacer }

// startGCPacer paces the collector within budget until stop is called,
// which puts the previous GOGC back.
func startGCPacer(budget int64) (stop func()) {
	if p := newGCPacer(budget); p != nil {
		return p.stop
	}
	return func() {}
}

// pacing is set while a pacer runs. GOGC is the process's: of two runs
// at once in one process (tests do that), the first paces and the second
// leaves it alone, so that neither puts back a value the other set.
var pacing atomic.Bool

// newGCPacer starts pacing the collector within budget; nil when GOGC is
// set in the environment, there is no budget or another pacer runs.
func newGCPacer(budget int64) *gcPacer {
	if _, set := os.LookupEnv("GOGC"); set || budget <= 0 || !pacing.CompareAndSwap(false, true) {
		return nil
	}
	p := &gcPacer{budget: budget, sample: []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.mu.Lock()
	p.cur = p.liveGCPercent()
	p.prev = debug.SetGCPercent(p.cur)
	p.mu.Unlock()
	p.arm()
	return p
}

func (p *gcPacer) arm() {
	runtime.SetFinalizer(&gcSentinel{p}, (*gcSentinel).collected)
}

func (s *gcSentinel) collected() {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	if pct := p.liveGCPercent(); pct != p.cur {
		debug.SetGCPercent(pct)
		p.cur = pct
	}
	p.arm()
}

// liveGCPercent is gcPercentFor the live heap of the last collection.
// p.mu must be held.
func (p *gcPacer) liveGCPercent() int {
	rtmetrics.Read(p.sample)
	if p.sample[0].Value.Kind() != rtmetrics.KindUint64 {
		return 100
	}
	return gcPercentFor(int64(p.sample[0].Value.Uint64()), p.budget)
}

// percent is the GOGC the pacer set last.
func (p *gcPacer) percent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

func (p *gcPacer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		debug.SetGCPercent(p.prev)
		pacing.Store(false)
	}
}

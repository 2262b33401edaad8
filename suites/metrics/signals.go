package metrics

import (
	"math"
	"runtime/metrics"
	"time"
)

// The Go runtime's own counters, read each tick: how long runnable
// goroutines wait for a thread (a CPU-starved process's heartbeats go out
// late), what share of the CPU the collector takes, and how much heap the
// program holds against its budget.
const (
	rtSchedLatencies = "/sched/latencies:seconds"
	rtGCCPU          = "/cpu/classes/gc/total:cpu-seconds"
	rtTotalCPU       = "/cpu/classes/total:cpu-seconds"
	rtHeapObjects    = "/memory/classes/heap/objects:bytes"
	rtHeapGoal       = "/gc/heap/goal:bytes"
)

// runtimeSample is one read of the runtime's counters, with the rates over
// the time since the previous read.
type runtimeSample struct {
	SchedP99 Gauge // seconds: the 99th percentile wait of goroutines made runnable since the last read
	GCCPU    Gauge // percent of the CPU the process could use, spent collecting garbage between the last two collections
	Heap     Gauge // bytes of live and not yet swept heap objects
	HeapGoal Gauge // bytes: the heap size at which the next collection ends
}

// runtimeReader reads the runtime's counters without allocating after its
// first read: the samples and the histogram's buckets are reused.
type runtimeReader struct {
	samples []metrics.Sample
	prev    []uint64 // the scheduler histogram's counts at the last read
	delta   []uint64
	gc, tot float64 // cumulative CPU seconds at the last read
	primed  bool
	// The runtime updates its CPU classes only when a collection ends:
	// between two, the last fraction holds, until a quiet spell shows the
	// collector is taking nothing.
	gcFrac   float64
	gcFracOK bool
	gcAt     time.Time
}

// gcQuiet is how long without a collection before the GC's share reads 0.
const gcQuiet = 2 * time.Second

func newRuntimeReader() *runtimeReader {
	r := &runtimeReader{samples: []metrics.Sample{
		{Name: rtSchedLatencies}, {Name: rtGCCPU}, {Name: rtTotalCPU}, {Name: rtHeapObjects}, {Name: rtHeapGoal},
	}}
	return r
}

// read reads the counters now. Only one goroutine may call it.
func (r *runtimeReader) read() runtimeSample {
	metrics.Read(r.samples)
	var out runtimeSample
	if v := r.samples[3].Value; v.Kind() == metrics.KindUint64 {
		out.Heap = gauge(float64(v.Uint64()), true)
	}
	if v := r.samples[4].Value; v.Kind() == metrics.KindUint64 {
		out.HeapGoal = gauge(float64(v.Uint64()), true)
	}
	var gc, tot float64
	cpuOK := r.samples[1].Value.Kind() == metrics.KindFloat64 && r.samples[2].Value.Kind() == metrics.KindFloat64
	if cpuOK {
		gc, tot = r.samples[1].Value.Float64(), r.samples[2].Value.Float64()
	}
	var h *metrics.Float64Histogram
	if v := r.samples[0].Value; v.Kind() == metrics.KindFloat64Histogram {
		h = v.Float64Histogram()
	}
	if r.primed {
		now := time.Now()
		switch d := tot - r.tot; {
		case cpuOK && d > 0:
			r.gcFrac, r.gcFracOK, r.gcAt = 100*max(gc-r.gc, 0)/d, true, now
		case r.gcFracOK && now.Sub(r.gcAt) > gcQuiet:
			r.gcFrac = 0
		}
		out.GCCPU = gauge(r.gcFrac, r.gcFracOK)
		if h != nil && len(h.Counts) == len(r.prev) {
			for i, c := range h.Counts {
				r.delta[i] = c - min(r.prev[i], c)
			}
			if p, ok := histQuantile(h.Buckets, r.delta, 0.99); ok {
				out.SchedP99 = gauge(p, true)
			}
		}
	}
	if h != nil {
		if len(r.prev) != len(h.Counts) {
			r.prev, r.delta = make([]uint64, len(h.Counts)), make([]uint64, len(h.Counts))
		}
		copy(r.prev, h.Counts)
	}
	r.gc, r.tot, r.primed = gc, tot, true
	return out
}

// histQuantile is the q quantile of a runtime histogram's counts: the
// upper bound of the bucket it falls in (the lower one for the last,
// unbounded bucket). ok is false when counts are all zero.
func histQuantile(buckets []float64, counts []uint64, q float64) (float64, bool) {
	var n uint64
	for _, c := range counts {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			hi := buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = buckets[i]
			}
			return max(hi, 0), true
		}
	}
	return max(buckets[len(buckets)-2], 0), true
}

// Package metrics records operation latencies and folds them into the figures
// phantom shows and reports: HDR histograms per worker, per-tick windows and
// cumulative stats, system gauges, baselines and their violations, snapshots
// and reports. It knows nothing about the database being loaded.
package metrics

import (
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1 µs to 60 s at 3 significant digits, recorded in
// nanoseconds so sub-millisecond figures keep their precision.
const (
	lowestLatency  = int64(time.Microsecond)
	highestLatency = int64(60 * time.Second)
	sigFigs        = 3
)

func newHistogram() *hdr.Histogram { return hdr.New(lowestLatency, highestLatency, sigFigs) }

// ErrorKind classifies a failed operation so errors can be counted by cause.
type ErrorKind uint8

// Error kinds, in the order reports list them.
const (
	ErrOther       ErrorKind = iota // anything not classified below
	ErrTimeout                      // the operation's deadline passed
	ErrUnavailable                  // no leader, node down, cluster closed
	ErrConflict                     // lost a conflict and gave up
	ErrCondition                    // a condition did not hold (an overdraft refused, say)
	ErrInjected                     // the workload failed it on purpose (a saga step, to exercise compensation)
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{"other", "timeout", "unavailable", "conflict", "condition", "injected"}

func (k ErrorKind) String() string {
	if k < numErrorKinds {
		return errorKindNames[k]
	}
	return "unknown"
}

// dist is a latency distribution: an HDR histogram plus the exact sum and
// extremes.
//
// Folding one histogram into another (hdr's Merge) walks its counters up to
// its largest value, however few values it holds: a tick of 125 latencies
// with one 300 ms election stall among them is ten thousand counters. The
// collector folded every worker's tick of every op into the op's tick, and
// that into its window, totals and epoch, and at the seed's 20 workers × 10
// ops × 4 ticks a second the walks took a tenth of a 2-core machine
// (BenchmarkHarvest: 53 ms a tick). So a dist may keep its values as they
// came, in raw, and the fold replays them, one RecordValue each:
//
//   - a worker's dist (newWorkerDist) keeps them in raw only, up to rawCap a
//     tick, and makes a histogram for the rest only when a tick brings more;
//     a worker that never does holds no 150 KB histogram at all;
//   - the collector's tick and ring dists (newMirrorDist) record into their
//     histogram, for their figures, and repeat the values in raw while they
//     fit (mirrorCap), for folding them further.
type dist struct {
	hist *hdr.Histogram // nil in a worker's dist until raw overflows
	// raw holds values as recorded: a worker's before its histogram, a
	// mirror's besides it (complete while len(raw) == n); nil in others.
	raw    []int64
	mirror bool  // raw repeats hist's values, while they fit
	n      int64 // values recorded
	sumNs  int64 // exact sum, so the average is not rounded to histogram buckets
	minNs  int64 // exact extremes; meaningful only when n > 0
	maxNs  int64
}

// rawCap is how many latencies of one op a worker keeps as they are in a
// tick: 4,096 a second per worker and op at the default 250 ms tick, more
// than any suite's op does per worker but the cluster suite's heartbeats.
// mirrorCap is how many the collector's tick and ring dists repeat: an
// op's 32,768 a second over all workers at that tick.
const (
	rawCap    = 1024
	mirrorCap = 8192
)

func newDist() *dist { return &dist{hist: newHistogram()} }

// newWorkerDist is a worker's dist: raw values first, a histogram when they
// overflow.
func newWorkerDist() *dist { return &dist{raw: make([]int64, 0, rawCap)} }

// newMirrorDist is a collector's dist whose values are folded further: a
// histogram, and its values repeated in raw while they fit.
func newMirrorDist() *dist { return &dist{hist: newHistogram(), mirror: true} }

// like is a new dist of d's kind, for the collector's side.
func (d *dist) like() *dist {
	if d.mirror {
		return newMirrorDist()
	}
	return newDist()
}

func (d *dist) record(v int64) {
	if d.n == 0 || v < d.minNs {
		d.minNs = v
	}
	if v > d.maxNs {
		d.maxNs = v
	}
	d.n++
	d.sumNs += v
	if !d.mirror && len(d.raw) < cap(d.raw) {
		d.raw = append(d.raw, v)
		return
	}
	d.insert(v)
}

// insert puts v in d's histogram, and in raw too if d is a mirror with
// room. Its caller counts it.
func (d *dist) insert(v int64) {
	if d.mirror {
		if d.raw == nil {
			d.raw = make([]int64, 0, mirrorCap) // once in the collector's life
		}
		if len(d.raw) < cap(d.raw) {
			d.raw = append(d.raw, v)
		}
	} else if d.hist == nil {
		d.hist = newHistogram() // once in the worker's life: rawCap ops of one op in a tick
	}
	_ = d.hist.RecordValue(v) // callers clamp v into range
}

func (d *dist) reset() {
	if d.hist != nil && d.hist.TotalCount() > 0 { // Reset clears every counter; skip it when idle
		d.hist.Reset()
	}
	d.raw = d.raw[:0]
	d.n, d.sumNs, d.minNs, d.maxNs = 0, 0, 0, 0
}

// add folds o into d, a collector's dist.
func (d *dist) add(o *dist) {
	if o.n == 0 {
		return
	}
	if d.n == 0 || o.minNs < d.minNs {
		d.minNs = o.minNs
	}
	if o.maxNs > d.maxNs {
		d.maxNs = o.maxNs
	}
	d.n += o.n
	d.sumNs += o.sumNs
	if o.mirror && int64(len(o.raw)) < o.n {
		// Its raw overflowed: its histogram has every value. A mirror d
		// is left with raw incomplete, as len(raw) < n says.
		d.hist.Merge(o.hist)
		return
	}
	for _, v := range o.raw {
		d.insert(v)
	}
	if !o.mirror && o.hist != nil && o.hist.TotalCount() > 0 {
		d.hist.Merge(o.hist)
	}
}

// into folds d's values into h: from raw when it holds them all.
func (d *dist) into(h *hdr.Histogram) {
	if d.mirror && int64(len(d.raw)) == d.n {
		for _, v := range d.raw {
			_ = h.RecordValue(v)
		}
		return
	}
	h.Merge(d.hist)
}

// bucket is what one worker recorded for one op during one tick. In the
// open loop lat is measured from each op's intended start (corrected for
// coordinated omission) and svc from its actual start; in the closed loop
// the two are the same and svc is nil.
type bucket struct {
	lat    dist
	svc    *dist
	errors [numErrorKinds]uint64
}

func newBucket() *bucket { return &bucket{lat: *newDist()} }

// newMirrorBucket is a collector's bucket whose values are folded further
// (its tick and ring buckets): see dist.
func newMirrorBucket() *bucket { return &bucket{lat: *newMirrorDist()} }

// newWorkerBucket is a worker's bucket (Recorder): raw latencies first.
func newWorkerBucket(open bool) *bucket {
	b := &bucket{lat: *newWorkerDist()}
	if open {
		b.svc = newWorkerDist()
	}
	return b
}

func (b *bucket) reset() {
	b.lat.reset()
	if b.svc != nil {
		b.svc.reset()
	}
	b.errors = [numErrorKinds]uint64{}
}

func (b *bucket) add(o *bucket) {
	b.lat.add(&o.lat)
	if o.svc != nil {
		if b.svc == nil {
			b.svc = b.lat.like()
		}
		b.svc.add(o.svc)
	}
	for i := range b.errors {
		b.errors[i] += o.errors[i]
	}
}

// Recorder is one load worker's recorder for a contiguous range of ops. Its
// owner goroutine calls Record and Fail; the Collector harvests it every tick.
// Recording takes no lock, sends on no channel and allocates nothing: the
// worker writes into its own histogram and a phaser lets the collector swap
// that histogram out safely.
type Recorder struct {
	first  int // global index of this recorder's op 0
	ph     *phaser
	active []atomic.Pointer[bucket] // written by the worker
	spare  []*bucket                // owned by the collector
	closed atomic.Bool
	open   bool  // open loop: keep service time apart
	lagNs  int64 // how late the current iteration started; owner only
	// samples hold the first error of each op and kind the worker saw,
	// [op*numErrorKinds+kind], as FailErr's text, for the report to say
	// what failed: written once by the worker, read by the collector.
	samples []atomic.Pointer[string]
}

func newRecorder(first, n int, open bool) *Recorder {
	r := &Recorder{first: first, ph: newPhaser(), active: make([]atomic.Pointer[bucket], n), spare: make([]*bucket, n), open: open,
		samples: make([]atomic.Pointer[string], n*int(numErrorKinds))}
	for i := range r.active {
		r.active[i].Store(newWorkerBucket(open))
		r.spare[i] = newWorkerBucket(open)
	}
	return r
}

// SetLag tells the recorder how long after its intended start the worker's
// current iteration began (open loop). Every op the iteration records
// counts that lag in its latency, which corrects for coordinated omission;
// its service time leaves it out. Only the owner goroutine calls it.
func (r *Recorder) SetLag(d time.Duration) { r.lagNs = max(int64(d), 0) }

// Record adds one successful completion of op (an index into the ops the
// recorder was made for) that took d.
func (r *Recorder) Record(op int, d time.Duration) {
	svc := clampLatency(int64(d))
	p := r.ph.enter()
	b := r.active[op].Load()
	b.lat.record(clampLatency(svc + r.lagNs))
	if r.open {
		b.svc.record(svc)
	}
	r.ph.exit(p)
}

func clampLatency(v int64) int64 { return min(max(v, 0), highestLatency) }

// Fail counts one failed attempt of op.
func (r *Recorder) Fail(op int, kind ErrorKind) {
	if kind >= numErrorKinds {
		kind = ErrOther
	}
	p := r.ph.enter()
	r.active[op].Load().errors[kind]++
	r.ph.exit(p)
}

// FailErr counts one failed attempt of op, as Fail does, and keeps err's
// text if it is the worker's first error of that op and kind: the text is
// made once, and later failures cost what Fail's do.
func (r *Recorder) FailErr(op int, kind ErrorKind, err error) {
	if kind >= numErrorKinds {
		kind = ErrOther
	}
	r.Fail(op, kind)
	if s := &r.samples[op*int(numErrorKinds)+int(kind)]; err != nil && s.Load() == nil {
		text := err.Error()
		s.Store(&text)
	}
}

// Close tells the collector the worker has stopped; its last figures are
// harvested on the next tick and the recorder is then dropped.
func (r *Recorder) Close() { r.closed.Store(true) }

// takeSamples hands each error text the worker kept to keep(op, kind,
// text), op in the collector's numbering. Only the collector calls it.
func (r *Recorder) takeSamples(keep func(op int, kind ErrorKind, text string)) {
	for i := range r.samples {
		if s := r.samples[i].Load(); s != nil {
			keep(r.first+i/int(numErrorKinds), ErrorKind(i%int(numErrorKinds)), *s)
		}
	}
}

// harvest swaps every op's active bucket for a clean one and folds what the
// worker recorded into into[first+i]. Only the collector calls it.
func (r *Recorder) harvest(into []*bucket) {
	for i := range r.active {
		r.spare[i] = r.active[i].Swap(r.spare[i])
	}
	r.ph.flip()
	for i, b := range r.spare {
		into[r.first+i].add(b)
		b.reset()
	}
}

// newHistogramCoarse is a histogram of one significant digit, enough to
// count completions under LatencyBounds.
func newHistogramCoarse() *hdr.Histogram { return hdr.New(lowestLatency, highestLatency, 1) }

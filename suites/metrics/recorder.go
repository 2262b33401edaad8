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
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{"other", "timeout", "unavailable", "conflict", "condition"}

func (k ErrorKind) String() string {
	if k < numErrorKinds {
		return errorKindNames[k]
	}
	return "unknown"
}

// dist is a latency distribution: an HDR histogram plus the exact sum and
// extremes.
type dist struct {
	hist  *hdr.Histogram
	sumNs int64 // exact sum, so the average is not rounded to histogram buckets
	minNs int64 // exact extremes; meaningful only when hist has values
	maxNs int64
}

func newDist() *dist { return &dist{hist: newHistogram()} }

func (d *dist) record(v int64) {
	if d.hist.TotalCount() == 0 || v < d.minNs {
		d.minNs = v
	}
	if v > d.maxNs {
		d.maxNs = v
	}
	_ = d.hist.RecordValue(v) // callers clamp v into range
	d.sumNs += v
}

func (d *dist) reset() {
	if d.hist.TotalCount() > 0 { // Reset clears every counter; skip it when idle
		d.hist.Reset()
	}
	d.sumNs, d.minNs, d.maxNs = 0, 0, 0
}

func (d *dist) add(o *dist) {
	if o.hist.TotalCount() == 0 {
		return
	}
	if d.hist.TotalCount() == 0 || o.minNs < d.minNs {
		d.minNs = o.minNs
	}
	if o.maxNs > d.maxNs {
		d.maxNs = o.maxNs
	}
	d.hist.Merge(o.hist)
	d.sumNs += o.sumNs
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
			b.svc = newDist()
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
}

func newRecorder(first, n int, open bool) *Recorder {
	r := &Recorder{first: first, ph: newPhaser(), active: make([]atomic.Pointer[bucket], n), spare: make([]*bucket, n), open: open}
	for i := range r.active {
		a, b := newBucket(), newBucket()
		if open {
			a.svc, b.svc = newDist(), newDist()
		}
		r.active[i].Store(a)
		r.spare[i] = b
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

// Close tells the collector the worker has stopped; its last figures are
// harvested on the next tick and the recorder is then dropped.
func (r *Recorder) Close() { r.closed.Store(true) }

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

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
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{"other", "timeout", "unavailable", "conflict"}

func (k ErrorKind) String() string {
	if k < numErrorKinds {
		return errorKindNames[k]
	}
	return "unknown"
}

// bucket is what one worker recorded for one op during one tick.
type bucket struct {
	hist   *hdr.Histogram
	sumNs  int64 // exact sum, so the average is not rounded to histogram buckets
	minNs  int64 // exact extremes; meaningful only when hist has values
	maxNs  int64
	errors [numErrorKinds]uint64
}

func newBucket() *bucket { return &bucket{hist: newHistogram()} }

func (b *bucket) reset() {
	if b.hist.TotalCount() > 0 { // Reset clears every counter; skip it when idle
		b.hist.Reset()
	}
	b.sumNs, b.minNs, b.maxNs = 0, 0, 0
	b.errors = [numErrorKinds]uint64{}
}

func (b *bucket) add(o *bucket) {
	if n := o.hist.TotalCount(); n > 0 {
		if b.hist.TotalCount() == 0 || o.minNs < b.minNs {
			b.minNs = o.minNs
		}
		if o.maxNs > b.maxNs {
			b.maxNs = o.maxNs
		}
		b.hist.Merge(o.hist)
		b.sumNs += o.sumNs
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
}

func newRecorder(first, n int) *Recorder {
	r := &Recorder{first: first, ph: newPhaser(), active: make([]atomic.Pointer[bucket], n), spare: make([]*bucket, n)}
	for i := range r.active {
		r.active[i].Store(newBucket())
		r.spare[i] = newBucket()
	}
	return r
}

// Record adds one successful completion of op (an index into the ops the
// recorder was made for) that took d.
func (r *Recorder) Record(op int, d time.Duration) {
	v := int64(d)
	if v > highestLatency {
		v = highestLatency
	} else if v < 0 {
		v = 0
	}
	p := r.ph.enter()
	b := r.active[op].Load()
	if b.hist.TotalCount() == 0 || v < b.minNs {
		b.minNs = v
	}
	if v > b.maxNs {
		b.maxNs = v
	}
	_ = b.hist.RecordValue(v) // in range by the clamp above
	b.sumNs += v
	r.ph.exit(p)
}

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

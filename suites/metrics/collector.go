package metrics

import (
	"fmt"
	"maps"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// OpSpec names one operation a suite measures.
type OpSpec struct {
	Name  string // "suite.op", e.g. "consensus.submit"
	Suite string
	// Primary ops count toward their suite's throughput; phases and
	// sub-steps of a primary op do not, so nothing is counted twice.
	Primary bool
	// NoBaseline keeps the op out of the per-op latency baselines: its
	// duration is not a request's latency (an election, say).
	NoBaseline bool
	// PhaseOf, when set, makes the op a phase of the named op: a timed
	// part of it, shown in that op's Phases under the short name Phase
	// (phases.go). A phase is no op of its own in the snapshot's and
	// report's lists unless Listed.
	PhaseOf string
	Phase   string
	Listed  bool
}

// OpStats are one op's figures at a tick.
type OpStats struct {
	OpSpec
	Tick    Figures // this tick alone
	Window  Figures // the last few ticks
	Epoch   Figures // since the last live change (or the start)
	Total   Figures // since the op's suite started
	History []Point // one point per tick, oldest first, at most HistoryLen
	// Phases are where the op's time went, in the order the suite declared
	// them; nil for an op without phases (phases.go).
	Phases []PhaseStats
	// Buckets count the op's completions since its suite started at the
	// bounds of LatencyBounds: Buckets[j] of them took at most
	// LatencyBounds[j]. A value within a bucket of 1 significant digit of
	// a bound may be counted in the next one up; none is counted below its
	// bound. Total.Count is the count of all; LatencySum their exact sum.
	// For exporters of cumulative histograms (Prometheus).
	Buckets    []uint64
	LatencySum time.Duration
	// Series is the op's figures over every SeriesStep ticks it ran,
	// oldest first, for the reports' charts: bounded by the step the
	// runner sets (SetSeriesStep). Shared between snapshots: never change
	// its elements.
	Series []SeriesPoint
	// Spectrum is the op's latency since its suite started at each of
	// SpectrumPercentiles, from its HDR histogram; nil before a
	// completion.
	Spectrum []time.Duration
	// ErrorSamples are, by error kind, the text of one error of the op
	// since its suite started (the first a worker kept that the collector
	// read); nil while it has had none. Shared between snapshots.
	ErrorSamples map[string]string
}

// SeriesPoint is an op's figures over one step of its series: the span
// of Elapsed measured time that ended At.
type SeriesPoint struct {
	At        time.Duration // since the run's load started
	Elapsed   time.Duration
	Count     uint64
	Errors    uint64
	OpsPerSec float64
	P50, P99  time.Duration
}

// SpectrumPercentiles are the percentiles an op's latency spectrum is
// read at: evenly to the median, then ever closer to the maximum, as
// HDR percentile plots show them.
var SpectrumPercentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

// LatencyBounds are the upper bounds of OpStats.Buckets.
var LatencyBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
}

// Point is one tick of an op's history: its window figures then.
type Point struct {
	At        time.Duration // since the run's load started
	OpsPerSec float64
	Avg       time.Duration
	P50       time.Duration
	P99       time.Duration
	Errors    uint64
}

// HistoryLen is how many ticks of history each op keeps (a minute at 250 ms).
const HistoryLen = 240

// Collector folds every worker's Recorder into per-op figures, once a tick.
// Tick is called by one goroutine; NewRecorder, Activate and Deactivate may
// be called from any goroutine.
type Collector struct {
	ops     []OpSpec
	parents []int // per op, the op it is a phase of, or -1
	window  int   // ticks in a window
	open    bool  // open loop: recorders keep service time apart

	mu     sync.Mutex
	recs   []*Recorder
	active []bool // ops whose suite is running

	// Owned by the Tick goroutine.
	start, last time.Time
	tick        []*bucket   // this tick's harvest, per op
	ring        [][]*bucket // [slot][op], the last window ticks
	ringDt      []time.Duration
	ringOn      [][]bool // [slot][op]: op was active during that tick
	slot        int
	total       []*bucket
	totalDt     []time.Duration // measured time each op was active
	epoch       []*bucket       // since NewEpoch
	epochDt     []time.Duration
	hist        [][]Point // per op, ring of HistoryLen
	histN       []int
	scratch     *bucket
	// coarse is each op's latencies since its start at 1 significant
	// digit, cheap to read into buckets each tick; buckets the last read.
	coarse  []*hdr.Histogram
	buckets [][]uint64
	// The series: each op's figures over its step so far, and the
	// points closed.
	step     int
	ser      []*bucket
	serDt    []time.Duration
	serN     []int
	series   [][]SeriesPoint
	spectrum [][]time.Duration
	specAge  []int // ticks with completions since the spectrum was read
	// samples are each op's error texts by kind (OpStats.ErrorSamples),
	// replaced, never changed, when one is added.
	samples []map[string]string
}

// spectrumTicks is how many ticks with completions an op's spectrum may
// lag: a second at the default tick.
const spectrumTicks = 4

// NewCollector makes a collector for ops whose windows span window ticks.
// start is when the load began; rates are measured from it.
func NewCollector(ops []OpSpec, window int, start time.Time) (*Collector, error) {
	if window < 1 {
		return nil, fmt.Errorf("metrics: window must be at least 1 tick, got %d", window)
	}
	seen := make(map[string]bool, len(ops))
	for _, o := range ops {
		if seen[o.Name] {
			return nil, fmt.Errorf("metrics: op %q is listed twice", o.Name)
		}
		seen[o.Name] = true
	}
	parents, err := phaseParents(ops)
	if err != nil {
		return nil, err
	}
	n := len(ops)
	c := &Collector{
		ops: ops, parents: parents, window: window, start: start, last: start,
		active: make([]bool, n), tick: newMirrorBuckets(n), total: newBuckets(n), epoch: newBuckets(n), epochDt: make([]time.Duration, n),
		ring: make([][]*bucket, window), ringDt: make([]time.Duration, window), ringOn: make([][]bool, window),
		totalDt: make([]time.Duration, n), hist: make([][]Point, n), histN: make([]int, n), scratch: newBucket(),
		step: 1, ser: make([]*bucket, n), serDt: make([]time.Duration, n), serN: make([]int, n), series: make([][]SeriesPoint, n),
		spectrum: make([][]time.Duration, n), specAge: make([]int, n), samples: make([]map[string]string, n),
	}
	for s := range c.ring {
		c.ring[s] = newMirrorBuckets(n)
		c.ringOn[s] = make([]bool, n)
	}
	for i := range c.hist {
		c.hist[i] = make([]Point, HistoryLen)
	}
	c.coarse = make([]*hdr.Histogram, n)
	c.buckets = make([][]uint64, n)
	for i := range c.coarse {
		c.coarse[i] = newHistogramCoarse()
		c.buckets[i] = make([]uint64, len(LatencyBounds))
	}
	return c, nil
}

func newBuckets(n int) []*bucket {
	bs := make([]*bucket, n)
	for i := range bs {
		bs[i] = newBucket()
	}
	return bs
}

func newMirrorBuckets(n int) []*bucket {
	bs := make([]*bucket, n)
	for i := range bs {
		bs[i] = newMirrorBucket()
	}
	return bs
}

// SetSeriesStep makes every op's series one point per step ticks it
// runs (at least 1): the runner picks it so a suite's series stays
// bounded however long it runs. Call it before the first Tick.
func (c *Collector) SetSeriesStep(step int) {
	c.step = max(step, 1)
	if c.step > 1 && c.ser[0] == nil {
		c.ser = newBuckets(len(c.ops))
	}
}

// SeriesStep returns the ticks per point of the series.
func (c *Collector) SeriesStep() int { return c.step }

// OpenLoop makes the recorders made from now on keep service time apart
// from latency measured from the intended start.
func (c *Collector) OpenLoop() { c.open = true }

// Ops lists the ops the collector was made for, in order.
func (c *Collector) Ops() []OpSpec { return c.ops }

// Index returns the position of the named op, or -1.
func (c *Collector) Index(name string) int {
	for i, o := range c.ops {
		if o.Name == name {
			return i
		}
	}
	return -1
}

// NewRecorder returns a recorder for one worker covering the n ops starting
// at index first; the worker's op i is the collector's op first+i.
func (c *Collector) NewRecorder(first, n int) *Recorder {
	if first < 0 || n < 0 || first+n > len(c.ops) {
		panic(fmt.Sprintf("metrics: recorder range [%d,%d) outside %d ops", first, first+n, len(c.ops)))
	}
	r := newRecorder(first, n, c.open)
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	return r
}

// Activate marks ops [first, first+n) as running: from the next tick their
// measured time grows and their rates count.
func (c *Collector) Activate(first, n int) { c.setActive(first, n, true) }

// Deactivate stops the clock of ops [first, first+n). Call it after their
// workers have stopped and a final Tick has harvested them.
func (c *Collector) Deactivate(first, n int) { c.setActive(first, n, false) }

func (c *Collector) setActive(first, n int, on bool) {
	c.mu.Lock()
	for i := first; i < first+n; i++ {
		c.active[i] = on
	}
	c.mu.Unlock()
}

// Tick harvests every recorder, closes the tick at now and returns the
// figures of every op that has been active. The returned slice and
// everything in it are new: they may be kept and shared.
func (c *Collector) Tick(now time.Time) []OpStats {
	// A tick's time may be older than the last one's (a ticker's value
	// read late, after a tick taken at time.Now()): time does not go
	// back, so such a tick is at the last one's time and measures none.
	if now.Before(c.last) {
		now = c.last
	}
	dt := now.Sub(c.last)
	c.last = now

	c.mu.Lock()
	recs := c.recs[:0]
	for _, r := range c.recs {
		// Read closed before harvesting: a worker closes after its last
		// record, so a recorder seen closed has nothing left after this.
		closed := r.closed.Load()
		r.harvest(c.tick)
		r.takeSamples(c.keepSample)
		if !closed {
			recs = append(recs, r)
		}
	}
	clear(c.recs[len(recs):]) // let the retired recorders be collected
	c.recs = recs
	active := append([]bool(nil), c.active...)
	c.mu.Unlock()

	c.slot = (c.slot + 1) % c.window
	c.ringDt[c.slot] = dt
	at := now.Sub(c.start)
	out := make([]*OpStats, len(c.ops))
	for i := range c.ops {
		// A worker may finish its last op just after its suite is
		// deactivated; its figures still count, its time does not.
		on := active[i] || c.tick[i].lat.hist.TotalCount() > 0 || c.tick[i].errors != [numErrorKinds]uint64{}
		c.ringOn[c.slot][i] = on && active[i]
		var tickDt time.Duration
		if active[i] {
			tickDt = dt
		}
		tickFig := figuresOf(c.tick[i], tickDt)
		if c.tick[i].lat.hist.TotalCount() > 0 {
			c.tick[i].lat.into(c.coarse[i])
			c.buckets[i] = bucketsOf(c.coarse[i]) // a new slice: snapshots keep the old
		}
		c.addSeries(i, on, active[i], at, tickDt, tickFig)
		ring := c.ring[c.slot][i]
		ring.reset()
		ring.add(c.tick[i])
		c.total[i].add(c.tick[i])
		// The spectrum is read once every spectrumTicks ticks with new
		// completions, and at once when the op's suite ends: a scan of
		// the whole histogram is no per-tick cost.
		if c.tick[i].lat.hist.TotalCount() > 0 {
			c.specAge[i]++
		}
		if c.specAge[i] > 0 && (c.specAge[i] >= spectrumTicks || !active[i]) {
			c.spectrum[i] = spectrumOf(&c.total[i].lat) // a new slice: snapshots keep the old
			c.specAge[i] = 0
		}
		c.epoch[i].add(c.tick[i])
		c.tick[i].reset()
		if active[i] {
			c.totalDt[i] += dt
			c.epochDt[i] += dt
		}
		if c.totalDt[i] == 0 && c.total[i].lat.hist.TotalCount() == 0 && !on {
			continue // never ran: nothing to show yet
		}

		c.scratch.reset()
		var wdt time.Duration
		for s := range c.ring {
			c.scratch.add(c.ring[s][i])
			if c.ringOn[s][i] {
				wdt += c.ringDt[s]
			}
		}
		st := OpStats{OpSpec: c.ops[i], Tick: tickFig, Window: figuresOf(c.scratch, wdt),
			Epoch: figuresOf(c.epoch[i], c.epochDt[i]), Total: figuresOf(c.total[i], c.totalDt[i]),
			Buckets: c.buckets[i], LatencySum: time.Duration(c.total[i].lat.sumNs),
			Series: c.series[i][:len(c.series[i]):len(c.series[i])], Spectrum: c.spectrum[i], ErrorSamples: c.samples[i]}
		if active[i] {
			c.push(i, Point{At: at, OpsPerSec: st.Window.OpsPerSec, Avg: st.Window.Latency.Avg,
				P50: st.Window.Latency.P50, P99: st.Window.Latency.P99, Errors: st.Window.Errors})
		}
		st.History = c.history(i)
		out[i] = &st
	}
	return foldPhases(c.ops, c.parents, out)
}

// keepSample keeps text as op's error of kind unless it has one. c.mu is
// held: Tick's harvest calls it.
func (c *Collector) keepSample(op int, kind ErrorKind, text string) {
	if _, ok := c.samples[op][kind.String()]; ok {
		return
	}
	m := maps.Clone(c.samples[op]) // snapshots hold the old one
	if m == nil {
		m = make(map[string]string, 1)
	}
	m[kind.String()] = FirstLine(text, 500)
	c.samples[op] = m
}

// NewEpoch starts every op's epoch figures afresh. Call it from the Tick
// goroutine, right after a Tick, so the closing epoch is complete.
func (c *Collector) NewEpoch() {
	for i := range c.epoch {
		c.epoch[i].reset()
		c.epochDt[i] = 0
	}
}

func (c *Collector) push(op int, p Point) {
	c.hist[op][c.histN[op]%HistoryLen] = p
	c.histN[op]++
}

func (c *Collector) history(op int) []Point {
	n := c.histN[op]
	if n <= HistoryLen {
		return append([]Point(nil), c.hist[op][:n]...)
	}
	k := n % HistoryLen
	out := make([]Point, 0, HistoryLen)
	out = append(out, c.hist[op][k:]...)
	return append(out, c.hist[op][:k]...)
}

// bucketsOf counts h's values at the bounds of LatencyBounds, cumulatively:
// a histogram bucket counts toward a bound when all of it is at or below it.
func bucketsOf(h *hdr.Histogram) []uint64 {
	out := make([]uint64, len(LatencyBounds))
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		for j := len(LatencyBounds) - 1; j >= 0 && bar.To <= int64(LatencyBounds[j]); j-- {
			out[j] += uint64(bar.Count)
		}
	}
	return out
}

// spectrumOf reads d's latency at every SpectrumPercentiles in one pass
// over its histogram, clamped to the exact extremes as latencyOf does.
func spectrumOf(d *dist) []time.Duration {
	if d.hist.TotalCount() == 0 {
		return nil
	}
	vs := d.hist.ValueAtPercentilesSlice(SpectrumPercentiles)
	out := make([]time.Duration, len(vs))
	for j, v := range vs {
		out[j] = time.Duration(min(max(v, d.minNs), d.maxNs))
	}
	return out
}

// addSeries folds op i's tick into its series. A step of one tick is the
// tick's own figures; a longer one merges its ticks' histograms, so a
// point's percentiles are exact either way. A step closes when full, or
// early when the op's suite has ended: its last point is no longer than
// it ran.
func (c *Collector) addSeries(i int, on, active bool, at, tickDt time.Duration, tick Figures) {
	if on {
		if c.step > 1 {
			c.ser[i].add(c.tick[i])
		}
		c.serDt[i] += tickDt
		c.serN[i]++
	}
	if c.serN[i] == 0 || (c.serN[i] < c.step && active) {
		return
	}
	f := tick
	if c.step > 1 {
		f = figuresOf(c.ser[i], c.serDt[i])
		c.ser[i].reset()
	}
	c.series[i] = append(c.series[i], SeriesPoint{At: at, Elapsed: c.serDt[i], Count: f.Count, Errors: f.Errors,
		OpsPerSec: f.OpsPerSec, P50: f.Latency.P50, P99: f.Latency.P99})
	c.serDt[i], c.serN[i] = 0, 0
}

package suites

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// scalabilitySuite sweeps the number of active clients — 1, 2, 4, … up to
// the run's clients — for an equal share of the duration each, measures the
// throughput of replicated puts at every step and fits the Universal
// Scalability Law to the points.
type scalabilitySuite struct{}

const opScaleSubmit = 0 // a replicated put, as consensus.submit, at the sweep's current step

func (scalabilitySuite) Name() string { return "scalability" }

func (scalabilitySuite) Description() string {
	return "Scalability: throughput as active clients double, efficiency vs linear, a USL fit"
}

func (scalabilitySuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{{Name: "scalability.submit", Suite: "scalability", Primary: true}}
}

func (scalabilitySuite) Prepare(_ context.Context, env Env) (Workload, error) {
	w := &scaleWorkload{db: env.DB, seed: env.Seed, payload: make([]byte, env.DataSize), keys: make([]string, env.Keys)}
	for i := range w.keys {
		w.keys[i] = "s/" + strconv.Itoa(i)
	}
	for n := 1; n < env.Clients; n *= 2 {
		w.steps = append(w.steps, n)
	}
	w.steps = append(w.steps, env.Clients)
	w.stepFor = env.Duration / time.Duration(len(w.steps))
	w.done = make([]paddedCount, env.Clients)
	w.active.Store(int64(w.steps[0]))
	return w, nil
}

// paddedCount keeps each client's counter on its own cache line, so
// counting completions costs no contention.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

type scaleWorkload struct {
	db      DB
	seed    int64
	payload []byte
	keys    []string
	steps   []int
	stepFor time.Duration
	active  atomic.Int64 // clients with a lower id run; the rest wait
	done    []paddedCount

	mu     sync.Mutex
	points []metrics.ScalePoint
}

func (w *scaleWorkload) Client(id int) Client {
	return &scaleClient{w: w, id: id, rng: rand.New(rand.NewPCG(uint64(w.seed), uint64(id)+0x5ca1e))}
}

type scaleClient struct {
	w   *scaleWorkload
	id  int
	rng *rand.Rand
}

func (c *scaleClient) Do(ctx context.Context, rec *metrics.Recorder) {
	if int64(c.id) >= c.w.active.Load() {
		select { // not in this step: wait for the next
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
		return
	}
	start := metrics.Now()
	err := c.w.db.Put(ctx, c.w.keys[c.rng.IntN(len(c.w.keys))], c.w.payload)
	if observe(ctx, rec, opScaleSubmit, start, err) {
		c.w.done[c.id].n.Add(1)
	}
}

// Probe steps the sweep and measures each step's throughput from the
// clients' completions over the step's measured time.
func (w *scaleWorkload) Probe(ctx context.Context, _ *metrics.Recorder) {
	total := func() (n int64) {
		for i := range w.done {
			n += w.done[i].n.Load()
		}
		return n
	}
	t := time.NewTimer(w.stepFor)
	defer t.Stop()
	for i, n := range w.steps {
		w.active.Store(int64(n))
		// Let the step settle for a tenth of it before counting.
		settle := w.stepFor / 10
		select {
		case <-ctx.Done():
			return
		case <-time.After(settle):
		}
		from, began := total(), time.Now()
		t.Reset(w.stepFor - settle)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		if el := time.Since(began); el > w.stepFor/4 {
			w.mu.Lock()
			w.points = append(w.points, metrics.ScalePoint{N: n, OpsPerSec: float64(total()-from) / el.Seconds()})
			w.mu.Unlock()
		}
		if ctx.Err() != nil || i == len(w.steps)-1 {
			return
		}
	}
}

// Scalability returns the sweep's points.
func (w *scaleWorkload) Scalability() []metrics.ScalePoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]metrics.ScalePoint(nil), w.points...)
}

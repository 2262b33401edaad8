package suites

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// scalabilitySuite runs two sweeps and fits the Universal Scalability Law
// to each. Vertical: the active clients double — 1, 2, 4, … up to the
// run's clients — on the run's cluster. Horizontal: the nodes double — 3,
// 6, 12, … up to the run's nodes — with shards following the nodes and
// the clients per node constant, so the offered load per node is. Each
// node step runs on a fresh cluster of its size (the largest on the run's
// own): a cluster's shards are fixed for its life, so growing one with
// AddNode would spread the same shards thinner rather than add shards, and
// a fresh cluster starts every step from the same state. The sweep starts
// at three nodes, where every shard has its full three replicas: one or
// two nodes replicate less, and would make a different system the base of
// the efficiency.
//
// Each step waits for its cluster to settle, warms up, then counts the
// puts that complete in at least minStep; a step in which none completed
// is marked as measuring nothing and kept out of the fit. The suite's
// duration is split between the sweeps, and a sweep drops middle steps
// rather than run steps too short to measure.
type scalabilitySuite struct{}

const opScaleSubmit = 0 // a replicated put, as consensus.submit, at the sweep's current step

// minStep is the least time a step counts its puts over; with its
// warm-up and settling a step takes about 1.5× it. A variable so that
// tests can shorten it.
var minStep = time.Second

// firstNodeStep is the node sweep's first size: every shard has its three
// replicas from there on.
const firstNodeStep = 3

// sweeper is a workload that measures several sweeps; the runner reads
// their CPU from its ticks and fits each.
type sweeper interface {
	Sweeps() []metrics.Sweep
}

func (scalabilitySuite) Name() string { return "scalability" }

func (scalabilitySuite) Description() string {
	return "Scalability: throughput as clients double and as nodes double, efficiency vs linear, a USL fit each"
}

func (scalabilitySuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{{Name: "scalability.submit", Suite: "scalability", Primary: true}}
}

func (scalabilitySuite) Prepare(_ context.Context, env Env) (Workload, error) {
	w := &scaleWorkload{db: env.DB, seed: env.Seed, payload: make([]byte, env.DataSize), keys: make([]string, env.Keys),
		nodes: env.Nodes, shards: env.Shards, open: env.Open, end: env.End}
	for i := range w.keys {
		w.keys[i] = "s/" + strconv.Itoa(i)
	}
	clients := doubling(1, env.Clients)
	share := env.Duration
	w.perNode = max(1, env.Clients/max(env.Nodes, 1))
	if env.Open != nil && env.Nodes > firstNodeStep {
		var nodes []int
		for _, n := range doubling(firstNodeStep, env.Nodes) {
			if n*w.perNode <= env.Clients {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) >= 2 {
			share /= 2
			w.nodeSteps = thin(nodes, share)
		}
	}
	w.clientSteps = thin(clients, share)
	// A tenth of the share is slack: starting a step's cluster and
	// settling it may take longer than planned.
	w.stepFor = share * 9 / 10 / time.Duration(len(w.clientSteps))
	if len(w.nodeSteps) > 0 {
		w.nodeStepFor = share * 9 / 10 / time.Duration(len(w.nodeSteps))
	}
	w.done = make([]paddedCount, env.Clients)
	w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)})
	return w, nil
}

// doubling is from, 2·from, 4·from, … below to, then to.
func doubling(from, to int) []int {
	var out []int
	for n := from; n < to; n *= 2 {
		out = append(out, n)
	}
	return append(out, to)
}

// thin drops middle steps until each gets at least 1.5 minSteps of share,
// keeping the first and the last.
func thin(steps []int, share time.Duration) []int {
	for len(steps) > 2 && share/time.Duration(len(steps)) < minStep*3/2 {
		mid := len(steps) / 2
		steps = append(steps[:mid:mid], steps[mid+1:]...)
	}
	return steps
}

// paddedCount keeps each client's counter on its own cache line, so
// counting completions costs no contention.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// scaleTarget is what the clients put to in the current step: a cluster,
// how many of the keys, and how many clients run (those with a lower id).
type scaleTarget struct {
	db     DB
	keys   int
	active int
}

type scaleWorkload struct {
	db          DB
	seed        int64
	payload     []byte
	keys        []string
	nodes       int
	shards      int
	perNode     int // clients per node in the node sweep
	open        func(ctx context.Context, nodes, shards int) (DB, error)
	end         func() // ends the suite: once the sweeps are done, idle clients would read as a throughput of 0
	clientSteps []int
	nodeSteps   []int
	stepFor     time.Duration // each client step's share of the duration
	nodeStepFor time.Duration
	cur         atomic.Pointer[scaleTarget]
	done        []paddedCount

	mu     sync.Mutex
	sweeps []metrics.Sweep
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
	t := c.w.cur.Load()
	if c.id >= t.active {
		select { // not in this step: wait for the next
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
		return
	}
	start := metrics.Now()
	err := t.db.Put(ctx, c.w.keys[c.rng.IntN(t.keys)], c.w.payload)
	if errors.Is(err, core.ErrClosed) && c.w.cur.Load() != t {
		return // the step's cluster closed under the put: the step ended, not the cluster
	}
	if observe(ctx, rec, opScaleSubmit, start, err) {
		c.w.done[c.id].n.Add(1)
	}
}

func (w *scaleWorkload) total() (n int64) {
	for i := range w.done {
		n += w.done[i].n.Load()
	}
	return n
}

// Probe runs the clients sweep, then the node sweep.
func (w *scaleWorkload) Probe(ctx context.Context, _ *metrics.Recorder) {
	defer w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)})
	if w.end != nil {
		defer w.end()
	}
	for _, n := range w.clientSteps {
		p, ok := w.step(ctx, n, w.stepFor, scaleTarget{db: w.db, keys: len(w.keys), active: n})
		if p.N > 0 {
			w.add(metrics.SweepClients, p)
		}
		if !ok {
			return
		}
	}
	for _, n := range w.nodeSteps {
		db := w.db
		if n != w.nodes {
			shards := max(1, w.shards*n/max(w.nodes, 1))
			var err error
			if db, err = w.open(ctx, n, shards); err != nil {
				if ctx.Err() == nil {
					w.add(metrics.SweepNodes, metrics.ScalePoint{N: n, Empty: true})
				}
				return
			}
		}
		keys := max(1, len(w.keys)*n/max(w.nodes, 1))
		p, ok := w.step(ctx, n, w.nodeStepFor, scaleTarget{db: db, keys: keys, active: n * w.perNode})
		if db != w.db {
			w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)}) // idle while the step's cluster closes
			db.Close()
		}
		if p.N > 0 {
			w.add(metrics.SweepNodes, p)
		}
		if !ok {
			return
		}
	}
}

// step runs one step on t for about stepFor: it waits for t's cluster to
// settle (a third of the step at most), warms up, then counts completed
// puts for at least minStep. ok is false when ctx ended first.
func (w *scaleWorkload) step(ctx context.Context, n int, stepFor time.Duration, t scaleTarget) (p metrics.ScalePoint, ok bool) {
	begun := time.Now()
	w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)}) // idle: the step's cluster settles without load
	for deadline := begun.Add(stepFor / 3); unsettled(t.db.Status(), 0) != "" && time.Now().Before(deadline); {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return p, false
		}
	}
	w.cur.Store(&t)
	if !sleepCtx(ctx, max(stepFor/10, 100*time.Millisecond)) {
		return p, false
	}
	from, t0 := w.total(), time.Now()
	// A step the suite's end cuts short still counts once it has
	// measured half of minStep.
	if !sleepCtx(ctx, max(time.Until(begun.Add(stepFor)), minStep)) && time.Since(t0) < minStep/2 {
		return p, false
	}
	el, count := time.Since(t0), w.total()-from
	return metrics.ScalePoint{N: n, OpsPerSec: float64(count) / el.Seconds(), Empty: count == 0, From: t0, To: time.Now()}, ctx.Err() == nil
}

// sleepCtx sleeps d and reports whether ctx was still live after it.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (w *scaleWorkload) add(kind string, p metrics.ScalePoint) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.sweeps {
		if w.sweeps[i].Kind == kind {
			w.sweeps[i].Points = append(w.sweeps[i].Points, p)
			return
		}
	}
	w.sweeps = append(w.sweeps, metrics.Sweep{Kind: kind, Points: []metrics.ScalePoint{p}})
}

// Sweeps returns the sweeps' points so far, the clients sweep first.
func (w *scaleWorkload) Sweeps() []metrics.Sweep {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]metrics.Sweep, len(w.sweeps))
	for i, s := range w.sweeps {
		out[i] = metrics.Sweep{Kind: s.Kind, Points: append([]metrics.ScalePoint(nil), s.Points...)}
	}
	return out
}

// Scalability returns the clients sweep's points.
func (w *scaleWorkload) Scalability() []metrics.ScalePoint {
	for _, s := range w.Sweeps() {
		if s.Kind == metrics.SweepClients {
			return s.Points
		}
	}
	return nil
}

package suites

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	rtmetrics "runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// scalabilitySuite runs two sweeps and fits the Universal Scalability Law
// to each. Vertical: the active clients double — 1, 2, 4, … up to the
// run's clients — on the run's cluster. Horizontal: the nodes double up to
// the run's nodes, with shards following the nodes and the clients per
// node constant (the run's clients over its nodes), so the offered load
// per node is. Each node step runs on a fresh cluster of its size (the
// largest on the run's own): a cluster's shards are fixed for its life,
// so growing one with AddNode would spread the same shards thinner rather
// than add shards, and a fresh cluster starts every step from the same
// state.
//
// Where the node sweep starts depends on what a node brings. Without
// quotas every node shares the same cores, embedded or as processes:
// adding one adds no resources, only replicas to place, and the sweep
// starts at three nodes, where every shard has its full three replicas —
// one or two nodes replicate less and would make a different system the
// base of the efficiency, with nothing gained. With --node-cpus in
// processes mode each node brings a CPU quota of its own, as a machine
// would, and the unit of resources is one node: the sweep doubles from 1
// (1, 2, 4, 8, …). The 1- and 2-node steps replicate each shard once and
// twice (core.ReplicationFactor), so each put costs them less work; every
// step records its replicas and the sweep says so in a note rather than
// hide it in the efficiency.
//
// The offered load must saturate what a step is given, or the sweep
// measures its clients rather than its nodes. A closed loop of c clients
// completes c/R ops/s at response time R, and under a quota R is long: a
// put is a gRPC hop to a node that, once it has spent its quota in a
// period, waits out the rest of it (80 ms of each 100 for 0.2 CPUs). A
// 0.2-CPU node here took 500 ops/s from 2 clients, 1,900 from 16, 3,050
// from 64 and 3,270 from 128, so about 64 clients per node are needed
// (--clients 512 for 8 nodes). The suite cannot add clients the run did
// not start, so rather than guess a machine's figure it measures: each
// step reads what its node processes used against their quotas, and the
// sweep names what bound every step — the quotas (the nodes used them:
// the step measured its resources), the machine (its cores were busy
// first: 8 × 0.2 CPUs and phantom itself on 2 cores), or the clients
// (neither: raise --clients). A step's figures are read at its bounds —
// the machine's /proc/stat and each node process's CPU clock — not from
// the runner's ticks, which a busy machine delays past the step's end.
//
// The run's own node processes sit idle beside the fresh clusters' steps,
// and idle is not free: here 8 of them used 0.7–0.9 CPUs between them,
// about half of each one's 0.2-CPU quota (hashicorp/raft heartbeats every
// tenth of the 50 ms heartbeat timeout, on every shard). Stopping them
// would lapse their parent lease (a wall-clock one) and start elections
// on waking, and closing them would take the later suites' cluster, so
// the sweep measures them instead: each fresh step's idle CPU, a note,
// and the steps they helped the machine bind are named as bound by it.
//
// The suite first writes the run's cluster's keyspace once, then runs the
// node sweep: each fresh cluster is sized (keyspace, logs between
// snapshots) to what the memory budget leaves beside the run's cluster,
// and closed before the next opens; then the clients sweep. Each step's
// share of the suite's duration is what is left of it over the steps
// left, so a step that took long to start shortens the later ones instead
// of pushing the sweep past the suite's end, and one that took little
// leaves the time to the others. A step
// writes its cluster's keyspace once before its first measure (a
// keyspace filling up as the first step runs is not the state the later
// steps measure in), waits for its cluster to settle, warms up, then
// counts the puts that complete in at least minStep; a step in which none
// completed, or whose cluster did not start, is marked as measuring
// nothing, says why in an event and is kept out of the fit. A sweep drops
// middle steps rather than run steps too short to measure.
type scalabilitySuite struct{}

const opScaleSubmit = 0 // a replicated put, as consensus.submit, at the sweep's current step

// minStep is the least time a step counts its puts over; a sweep's steps
// are planned at 1.5× it at least, for their warm-up and settling. A
// variable so that tests can shorten it.
var minStep = time.Second

// firstNodeStep is the node sweep's first size without quotas: every
// shard has its three replicas from there on. With quotas it is 1.
const firstNodeStep = 3

// nodePlan is the node sweep's sizes for a run of nodes nodes and clients
// clients, perNode of them per node, each node under a quota of nodeCPUs
// (0: none): doubling from 1 with quotas, from firstNodeStep without, up
// to the run's nodes; none when fewer than two steps fit.
func nodePlan(nodes, clients, perNode int, nodeCPUs float64) []int {
	first := firstNodeStep
	if nodeCPUs > 0 {
		first = 1
	}
	if nodes <= first {
		return nil
	}
	var out []int
	for _, n := range doubling(first, nodes) {
		if n*perNode <= clients {
			out = append(out, n)
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

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
		nodes: env.Nodes, shards: env.Shards, nodeCPUs: env.NodeCPUs, mark: env.mark, open: env.Open, end: env.End, note: env.Note, elections: env.FreshElections, budget: env.Budget, duration: env.Duration}
	for i := range w.keys {
		w.keys[i] = "s/" + strconv.Itoa(i)
	}
	clients := doubling(1, env.Clients)
	share := env.Duration
	w.perNode = max(1, env.Clients/max(env.Nodes, 1))
	if env.Open != nil {
		if nodes := nodePlan(env.Nodes, env.Clients, w.perNode, env.NodeCPUs); nodes != nil {
			share /= 2
			w.nodeSteps = thin(nodes, share)
		}
	}
	w.clientSteps = thin(clients, share)
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
	perNode     int            // clients per node in the node sweep
	nodeCPUs    float64        // each node process's CPU quota; 0 for none
	mark        func() cpuMark // reads the CPU counters at a step's bounds; nil reads none
	open        func(ctx context.Context, nodes, shards int, budget int64) (DB, int, error)
	end         func() // ends the suite: once the sweeps are done, idle clients would read as a throughput of 0
	note        func(string)
	elections   func([]core.Election, time.Time) // counts a fresh cluster's elections
	budget      int64                            // the run's memory budget, for sizing fresh clusters
	duration    time.Duration                    // the suite's, which the steps share
	clientSteps []int
	nodeSteps   []int
	filled      int // how many of the run's cluster's keys have been written once
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

// Probe runs the node sweep, then the clients sweep, each step getting an
// equal share of what is left of the suite's duration.
func (w *scaleWorkload) Probe(ctx context.Context, _ *metrics.Recorder) {
	defer w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)})
	if w.end != nil {
		defer w.end()
	}
	// A twentieth of the duration is left for the last puts to drain
	// before the suite's end cuts them short.
	deadline := time.Now().Add(w.duration - w.duration/20)
	left := len(w.nodeSteps) + len(w.clientSteps)
	share := func() time.Duration {
		d := time.Until(deadline) / time.Duration(max(left, 1))
		left--
		return d
	}
	// The run's cluster's keyspace written once first (a tenth of the
	// duration at most): it holds its steady-state data beside every
	// fresh cluster, which is sized to what that leaves, and the process
	// has grown its heap before the first step measures.
	w.fill(ctx, w.db, len(w.keys), &w.filled, time.Now().Add(w.duration/10))
	if len(w.nodeSteps) > 0 {
		w.notef("scalability: node sweep over %s nodes, %s per node%s", joinInts(w.nodeSteps), plural(w.perNode, "client"), w.quotaText())
	}
	for _, n := range w.nodeSteps {
		if !w.nodeStep(ctx, n, share()) {
			return
		}
	}
	for _, n := range w.clientSteps {
		p, ok := w.step(ctx, n, share(), scaleTarget{db: w.db, keys: len(w.keys), active: n})
		if p.N > 0 {
			w.add(metrics.SweepClients, p)
		}
		if !ok {
			return
		}
	}
}

// nodeStep runs the node sweep's step of n nodes for about stepFor: on a
// fresh cluster of n nodes, sized to what the memory budget leaves,
// unless n is the run's own size. ok is false when ctx ended first.
func (w *scaleWorkload) nodeStep(ctx context.Context, n int, stepFor time.Duration) (ok bool) {
	begun := time.Now()
	db, keys := w.db, len(w.keys)
	var settled time.Time // when a fresh cluster had settled
	if n != w.nodes {
		shards := max(1, w.shards*n/max(w.nodes, 1))
		budget := w.freshBudget()
		var err error
		var fit int
		if db, fit, err = w.open(ctx, n, shards, budget); err != nil {
			if ctx.Err() != nil {
				return false
			}
			w.notef("scalability: the %d-node step measured nothing: a fresh cluster of %d nodes and %d shards in the %s the memory budget leaves did not start: %v",
				n, n, shards, metrics.FormatBytes(float64(budget)), err)
			w.add(metrics.SweepNodes, metrics.ScalePoint{N: n, Empty: true, Replicas: core.ReplicationFactor(n), Fresh: true})
			return true
		}
		settled = time.Now() // until the step finds it settled, its start
		defer func() {
			w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)}) // idle while the step's cluster closes
			if w.elections != nil {
				evs, _ := db.Elections(0) // before Close, whose own are no one's concern
				w.elections(evs, settled)
			}
			db.Close()
		}()
		keys = min(fit, len(w.keys))
	}
	// The keyspace follows the nodes, as the shards do.
	keys = max(1, min(keys, len(w.keys)*n/max(w.nodes, 1)))
	p, ok := w.stepFrom(ctx, begun, strconv.Itoa(n)+"-node", n, stepFor, scaleTarget{db: db, keys: keys, active: n * w.perNode}, &settled)
	p.Replicas = core.ReplicationFactor(n)
	if p.N > 0 {
		w.add(metrics.SweepNodes, p)
	}
	return ok
}

// quotaText is the node sweep's quotas and replicas, for its first
// event: "", or ", each node under a 0.2-CPU quota; 1 and 2 nodes
// replicate each shard 1 and 2 times".
func (w *scaleWorkload) quotaText() string {
	if w.nodeCPUs <= 0 {
		return ""
	}
	t := fmt.Sprintf(", each node under a %v-CPU quota", w.nodeCPUs)
	var fewer []string
	for _, n := range w.nodeSteps {
		if r := core.ReplicationFactor(n); r < core.ReplicationFactor(w.nodes) {
			fewer = append(fewer, fmt.Sprintf("%d nodes: %d", n, r))
		}
	}
	if len(fewer) > 0 {
		t += fmt.Sprintf("; replicas of each shard fewer than %d at %s", core.ReplicationFactor(w.nodes), strings.Join(fewer, ", "))
	}
	return t
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// freshElections queues the elections of the fresh clusters a suite
// started, handed over from its goroutine, until the runner's counts them.
type freshElections struct {
	mu      sync.Mutex
	pending []freshElection
}

type freshElection struct {
	e       core.Election
	settled time.Time
}

// add queues evs, of a cluster that had settled at settled.
func (f *freshElections) add(evs []core.Election, settled time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range evs {
		f.pending = append(f.pending, freshElection{e, settled})
	}
}

func (f *freshElections) take() []freshElection {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.pending
	f.pending = nil
	return out
}

// countFresh counts the fresh clusters' elections queued so far: caused
// by the cluster's start until it settled and a few election timeouts
// after, spontaneous from then on. Runner's goroutine only.
func (x *run) countFresh() {
	window := minCauseWindow
	if t := x.epochs.timeouts.Election; t > 0 {
		window = max(window, causeWindow*t)
	}
	for _, f := range x.fresh.take() {
		cause := ""
		if !f.e.At.After(f.settled.Add(window)) {
			cause = "fresh cluster start"
		}
		x.elections.add(f.e, cause)
	}
}

// freshBudget is what the memory budget leaves beside the live heap of
// the run's cluster (and the last step's, collected first), for a fresh
// cluster: the run sizes it as it sizes its own, live data in half of it.
func (w *scaleWorkload) freshBudget() int64 {
	if w.budget <= 0 {
		return 0
	}
	runtime.GC() // the last step's cluster is closed: its memory goes back before this one takes its own
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	var live int64
	if s[0].Value.Kind() == rtmetrics.KindUint64 {
		live = int64(s[0].Value.Uint64())
	}
	return max(w.budget-live, 0)
}

func (w *scaleWorkload) notef(format string, args ...any) {
	if w.note != nil {
		w.note(fmt.Sprintf(format, args...))
	}
}

// fill writes the first keys of the keyspace once on db, from a few
// goroutines, starting at *next, until every one is written or until
// passes; *next is where a later fill goes on. Its puts are in no figure.
func (w *scaleWorkload) fill(ctx context.Context, db DB, keys int, next *int, until time.Time) {
	fctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var at atomic.Int64
	at.Store(int64(*next))
	var wg sync.WaitGroup
	for range min(keys-*next, 8) {
		wg.Go(func() {
			for i := int(at.Add(1) - 1); i < keys && fctx.Err() == nil; i = int(at.Add(1) - 1) {
				if db.Put(fctx, w.keys[i], w.payload) != nil && fctx.Err() != nil {
					return // cut short: written or not, the next fill writes it again
				}
			}
		})
	}
	wg.Wait()
	// The goroutines claimed keys past the last written; going back by
	// their number writes a few twice rather than miss one.
	*next = max(*next, min(int(at.Load())-8, keys))
}

// step runs the clients sweep's step of n clients on t for about stepFor
// from now.
func (w *scaleWorkload) step(ctx context.Context, n int, stepFor time.Duration, t scaleTarget) (metrics.ScalePoint, bool) {
	return w.stepFrom(ctx, time.Now(), strconv.Itoa(n)+"-client", n, stepFor, t, nil)
}

// stepFrom runs one step on t until about begun+stepFor: it writes t's
// keyspace once if it has not been (a third of the step at most), waits
// for t's cluster to settle (a third of what is left at most), warms up,
// then counts completed puts for at least minStep. ok is false when ctx
// ended first. settled, when not nil, gets the time the wait for the
// cluster to settle ended.
func (w *scaleWorkload) stepFrom(ctx context.Context, begun time.Time, name string, n int, stepFor time.Duration, t scaleTarget, settled *time.Time) (p metrics.ScalePoint, ok bool) {
	end := begun.Add(stepFor)
	w.cur.Store(&scaleTarget{db: w.db, keys: len(w.keys)}) // idle: the step's cluster settles without load
	if t.db != w.db {
		var next int
		w.fill(ctx, t.db, t.keys, &next, time.Now().Add(time.Until(end)/3))
	} else if w.filled < t.keys {
		w.fill(ctx, t.db, t.keys, &w.filled, time.Now().Add(time.Until(end)/3))
	}
	for deadline := time.Now().Add(time.Until(end) / 3); unsettled(t.db.Status(), 0) != "" && time.Now().Before(deadline); {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return p, false
		}
	}
	if settled != nil {
		*settled = time.Now()
	}
	w.cur.Store(&t)
	if !sleepCtx(ctx, max(stepFor/10, 100*time.Millisecond)) {
		return p, false
	}
	from, t0 := w.total(), time.Now()
	var m0 cpuMark
	if w.mark != nil {
		m0 = w.mark()
	}
	// A step the suite's end cuts short still counts once it has
	// measured half of minStep.
	if !sleepCtx(ctx, max(time.Until(end), minStep)) && time.Since(t0) < minStep/2 {
		return p, false
	}
	el, count := time.Since(t0), w.total()-from
	if count == 0 {
		w.notef("scalability: the %s step measured nothing: no put completed in %v", name, el.Round(time.Millisecond))
	}
	p = metrics.ScalePoint{N: n, OpsPerSec: float64(count) / el.Seconds(), Empty: count == 0, From: t0, To: time.Now(), Fresh: t.db != w.db}
	if w.mark != nil {
		use := usedBetween(m0, w.mark())
		p.CPU = use.machine
		switch {
		case !p.Fresh && use.ownOK:
			p.NodesCPU = use.own
		case p.Fresh:
			if use.freshOK {
				p.NodesCPU = use.fresh
			}
			if use.ownOK {
				p.IdleCPU = use.own // the run's, idle beside the step's cluster
			}
		}
	}
	return p, ctx.Err() == nil
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

// Sweeps returns the sweeps' points so far, the clients sweep first
// (though it runs second).
func (w *scaleWorkload) Sweeps() []metrics.Sweep {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]metrics.Sweep, 0, len(w.sweeps))
	for _, s := range w.sweeps {
		sw := metrics.Sweep{Kind: s.Kind, Points: append([]metrics.ScalePoint(nil), s.Points...)}
		if s.Kind == metrics.SweepNodes {
			sw.NodeCPUs, sw.ClientsPerNode = w.nodeCPUs, w.perNode
		}
		out = append(out, sw)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind == metrics.SweepClients && out[j].Kind != metrics.SweepClients })
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

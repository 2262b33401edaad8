package suites

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// clusterSuite measures cluster management: heartbeats to the meta group,
// cluster status queries, and nodes joining and leaving while it runs.
type clusterSuite struct{}

// The cluster suite's ops, in the order of Ops.
const (
	opHeartbeat  = iota // one node's heartbeat round to the meta leader
	opStatus            // a cluster status query: nodes, health, shards, leaders, lag
	opNodeAdd           // a node joins and the shards rebalance onto it
	opNodeRemove        // a node is drained and leaves
)

// churnEvery is how often the cluster suite adds a node, and then removes
// it again, while its clients query.
const churnEvery = time.Second

func (clusterSuite) Name() string { return "cluster" }

func (clusterSuite) Description() string {
	return "Cluster management: heartbeats, status queries, nodes joining and leaving"
}

func (clusterSuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{
		{Name: "cluster.heartbeat", Suite: "cluster", Primary: true},
		{Name: "cluster.status", Suite: "cluster", Primary: true},
		// Adding or removing a node moves replicas and waits for them to
		// catch up: the latency baselines for requests do not apply.
		{Name: "cluster.node_add", Suite: "cluster", NoBaseline: true},
		{Name: "cluster.node_remove", Suite: "cluster", NoBaseline: true},
	}
}

func (clusterSuite) Prepare(_ context.Context, env Env) (Workload, error) {
	w := &clusterWorkload{db: env.DB, seed: env.Seed}
	for i := 1; i <= env.Nodes; i++ {
		w.nodes = append(w.nodes, "n"+strconv.Itoa(i))
	}
	return w, nil
}

type clusterWorkload struct {
	db    DB
	nodes []string // the starting nodes: the churn never removes them
	seed  int64
}

func (w *clusterWorkload) Client(id int) Client {
	return &clusterClient{w: w, rng: rand.New(rand.NewPCG(uint64(w.seed), uint64(id)+0xc1))}
}

type clusterClient struct {
	w   *clusterWorkload
	rng *rand.Rand
}

// Do sends one heartbeat for a random starting node, then queries status.
func (c *clusterClient) Do(ctx context.Context, rec *metrics.Recorder) {
	node := c.w.nodes[c.rng.IntN(len(c.w.nodes))]
	start := metrics.Now()
	err := c.w.db.Heartbeat(ctx, node)
	if errors.Is(err, core.ErrNodeDown) {
		err = nil // a crashed node cannot beat; not the cluster's failure
	}
	observe(ctx, rec, opHeartbeat, start, err)
	start = metrics.Now()
	st := c.w.db.Status()
	if len(st.Nodes) == 0 {
		rec.FailErr(opStatus, metrics.ErrUnavailable, errNoNodes)
		return
	}
	rec.Record(opStatus, start.Elapsed())
	// An embedded cluster's heartbeat and status are function calls of a
	// microsecond: the clients never block, and each would hold its core
	// for the scheduler's whole 10 ms slice while the raft goroutines
	// woken by the network wait behind all of them. The quick profile's 8
	// clients on 2 cores made leaders miss their 50 ms lease: 4 to 10
	// spontaneous elections a run, and heartbeats averaging 10–33 µs from
	// the slices they waited out. Yielding after each round lets the
	// cluster in: no spontaneous election in 4 runs, heartbeats at 0.8 µs.
	runtime.Gosched()
}

// Probe adds a node every churnEvery and removes it at the next turn, so
// membership changes happen while the clients query.
func (w *clusterWorkload) Probe(ctx context.Context, rec *metrics.Recorder) {
	churn(ctx, w.db, rec, churnEvery, opNodeAdd, opNodeRemove)
}

// churn adds a node every interval and removes it at the next turn,
// recording each as opAdd and opRemove. It does not undo a change the
// suite's end cut short: on a large cluster with large values a drain can
// take longer than any grace the suite's end could give it (the seed's
// node_remove, cut off by the end and then by a 10 s cleanup, never
// finished, and the next suite ran on a cluster still moving replicas).
// The runner's settling before the next suite removes the node left
// behind and waits for the replicas to catch up, counted in no suite's
// figures.
func churn(ctx context.Context, db DB, rec *metrics.Recorder, every time.Duration, opAdd, opRemove int) {
	t := time.NewTicker(every)
	defer t.Stop()
	var added string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := metrics.Now()
		if added == "" {
			id, err := db.AddNode(ctx)
			if observe(ctx, rec, opAdd, start, err) || (err != nil && id != "") {
				added = id
			}
			continue
		}
		err := db.RemoveNode(ctx, added)
		if observe(ctx, rec, opRemove, start, err) {
			added = ""
		}
	}
}

package suites

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// querySuite measures cross-shard aggregate queries: each one is planned,
// scanned on every shard's leader in parallel and merged.
type querySuite struct{}

// The query suite's ops, in the order of Ops.
const (
	opQueryAggregate = iota // a GROUP BY query, end to end
	opQueryPlan             // its planning
	opQueryShardExec        // one shard's part: barrier, scan, partial aggregates (one sample per shard)
	opQueryMerge            // combining the shards' partials
)

const (
	queryPrefix    = "row/q/"
	queryMaxRows   = 2000
	queryGroups    = 10
	queryMaxAmount = 1000 // amounts are 0..queryMaxAmount
)

func (querySuite) Name() string { return "query" }

func (querySuite) Description() string {
	return "Cross-shard queries: GROUP BY with COUNT/SUM/MIN/MAX/AVG, planned, fanned out and merged"
}

func (querySuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{
		{Name: "query.aggregate", Suite: "query", Primary: true},
		{Name: "query.plan", Suite: "query"},
		{Name: "query.shard_exec", Suite: "query"},
		{Name: "query.merge", Suite: "query"},
	}
}

// Prepare writes the rows the queries aggregate: min(env.Keys, 2000) of
// them, in groups g0..g9, with seeded amounts and env.DataSize payloads.
func (querySuite) Prepare(ctx context.Context, env Env) (Workload, error) {
	w := &queryWorkload{db: env.DB, seed: env.Seed, bound: countBound{limit: int64(env.Queries), end: env.End}}
	rows := min(env.Keys, queryMaxRows)
	if rows < 1 {
		rows = 1
	}
	rng := rand.New(rand.NewPCG(uint64(env.Seed), 0x9e))
	payload := make([]byte, env.DataSize)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	for i := range rows {
		r := core.Row{Key: queryPrefix + strconv.Itoa(i), Group: "g" + strconv.Itoa(i%queryGroups),
			Amount: rng.Int64N(queryMaxAmount + 1), Payload: payload}
		if err := env.DB.PutRow(ctx, r); err != nil {
			return nil, fmt.Errorf("writing the query rows: %w", err)
		}
	}
	return w, nil
}

type queryWorkload struct {
	db    DB
	seed  int64
	bound countBound // ends the suite after so many queries
}

func (w *queryWorkload) Client(id int) Client {
	return &queryClient{w: w, rng: rand.New(rand.NewPCG(uint64(w.seed), uint64(id)+0x51))}
}

type queryClient struct {
	w   *queryWorkload
	rng *rand.Rand
}

// Do runs one GROUP BY query with every aggregate and a random amount
// range, and records its phases.
func (c *queryClient) Do(ctx context.Context, rec *metrics.Recorder) {
	if !c.w.bound.take(ctx) {
		return
	}
	lo := c.rng.Int64N(queryMaxAmount / 2)
	hi := lo + c.rng.Int64N(queryMaxAmount-lo+1)
	q := core.Query{Prefix: queryPrefix, MinAmount: &lo, MaxAmount: &hi, GroupBy: true,
		Aggs: []core.Agg{core.Count, core.Sum, core.Min, core.Max, core.Avg}}
	start := metrics.Now()
	res, err := c.w.db.Query(ctx, q)
	if observe(ctx, rec, opQueryAggregate, start, err) {
		rec.Record(opQueryPlan, res.Plan)
		for _, d := range res.ShardExec {
			rec.Record(opQueryShardExec, d)
		}
		rec.Record(opQueryMerge, res.Merge)
	}
}

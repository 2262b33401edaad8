package suites

import (
	"testing"
	"time"
)

func TestQuerySuiteRecordsEveryPhase(t *testing.T) {
	var cfg Config
	report := runReal(t, func(c *Config) {
		c.Suites = []string{"query"}
		c.Clients = 4
		c.Duration = 1500 * time.Millisecond
		cfg = *c
	})
	ops := report.Suites["query"].Ops
	for _, op := range []string{"query.aggregate", "query.plan", "query.shard_exec", "query.merge"} {
		if ops[op].Count == 0 || ops[op].Errors != 0 {
			t.Errorf("%s: %d done, %d errors", op, ops[op].Count, ops[op].Errors)
		}
	}
	agg := ops["query.aggregate"].Count
	for _, op := range []string{"query.plan", "query.merge"} {
		if ops[op].Count != agg {
			t.Errorf("%s timed %d times for %d queries", op, ops[op].Count, agg)
		}
	}
	// One shard_exec sample per shard touched: the fan-out is every shard.
	if shards := uint64(cfg.shards()); ops["query.shard_exec"].Count != agg*shards {
		t.Errorf("%d shard executions for %d queries: fan-out %.2f, want %d shards",
			ops["query.shard_exec"].Count, agg, float64(ops["query.shard_exec"].Count)/float64(max(agg, 1)), shards)
	}
	t.Logf("%d queries, %.0f/s", agg, report.Suites["query"].OpsPerSec)
}

func TestQueryCountEndsTheSuite(t *testing.T) {
	start := time.Now()
	report := runReal(t, func(c *Config) {
		c.Suites = []string{"query"}
		c.Clients = 4
		c.Duration = time.Minute
		c.Queries = 200
	})
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("200 queries took %v: the count did not end the suite", took)
	}
	agg := report.Suites["query"].Ops["query.aggregate"]
	if done := agg.Count + agg.Errors; done < 190 || done > 200 {
		t.Errorf("%d queries ran, want the 200 asked for (less the few cut short)", done)
	}
}

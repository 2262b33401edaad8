package core

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPutLarge is BenchmarkPut with the seed's 1 MiB values, sized as
// the runner sizes them: one entry per replication message, 341 keys.
func BenchmarkPutLarge(b *testing.B) {
	c := newTestCluster(b, 3, func(cfg *Config) {
		cfg.LogOutput = nil
		cfg.MaxAppendEntries = 1
		cfg.SnapshotThreshold = 546
		cfg.TrailingLogs = 136
	})
	value := bytes.Repeat([]byte{'x'}, 1<<20)
	var seq atomic.Uint64
	b.SetBytes(int64(len(value)))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			key := "key-" + strconv.FormatUint(seq.Add(1)%341, 10)
			if err := c.Put(ctx, key, value); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPutNetDelay is Put on 1 shard of 3 nodes with 5 ms one-way delay
// on every link, from 1, 8 and 32 clients. Its p50 should be one round
// trip to a quorum, 10 ms and a little.
func BenchmarkPutNetDelay(b *testing.B) {
	const oneWay = 5 * time.Millisecond
	for _, clients := range []int{1, 8, 32} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			c := newTestCluster(b, 3, oneShard, func(cfg *Config) { cfg.LogOutput = nil })
			if err := c.SetAllLinks(Link{Delay: oneWay}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			// Long enough for heartbeats to measure the links and for
			// replication to settle into its steady state.
			for i := range 100 {
				if err := c.Put(ctx, "warm-"+strconv.Itoa(i%8), []byte("v")); err != nil {
					b.Fatal(err)
				}
			}
			value := bytes.Repeat([]byte{'x'}, benchValueSize)
			lat := make([]time.Duration, b.N)
			runClients(b, clients, func(i uint64) error {
				start := time.Now()
				err := c.Put(ctx, "key-"+strconv.FormatUint(i%benchKeys, 10), value)
				lat[i] = time.Since(start)
				return err
			})
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
		})
	}
}

// BenchmarkPutSeed is Put on the seed profile's cluster, 20 nodes and 20
// shards, from 20 clients writing 1 KiB values over 1024 keys.
func BenchmarkPutSeed(b *testing.B) {
	c := newTestCluster(b, 20, func(cfg *Config) {
		cfg.Shards = 20
		cfg.LogOutput = nil
	})
	value := bytes.Repeat([]byte{'x'}, 1024)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	runClients(b, 20, func(i uint64) error {
		return c.Put(ctx, keys[i%benchKeys], value)
	})
}

// BenchmarkKillLeaderElection kills the leader of a 3-node shard b.N times
// under the default 50 ms Raft timeouts and reports how long the shard was
// without a leader, as the observers record it (Election.Took): idle, and
// with 16 clients writing throughout. The followers see the leader's
// connections close and fail over fast (failover.go). Run it with
// -benchtime=200x or more for a meaningful p99.
func BenchmarkKillLeaderElection(b *testing.B) {
	for _, writers := range []int{0, 16} {
		name := "idle"
		if writers > 0 {
			name = "load"
		}
		b.Run(name, func(b *testing.B) {
			c := newTestCluster(b, 3, oneShard, func(cfg *Config) { cfg.LogOutput = nil })
			ctx := context.Background()
			stop := writeInBackground(b, c, writers)
			defer stop()
			var took []time.Duration
			for b.Loop() {
				_, since := c.Elections(0)
				if _, err := c.KillLeader(ctx, 0); err != nil {
					b.Fatal(err)
				}
				took = append(took, electionsTook(c, since)...)
				// Let the restarted replica catch up, as between the suite's
				// kills (2 s apart): a follower still working through its
				// backlog hears of the next kill only once raft has
				// answered what its connections carried.
				if err := c.Put(ctx, "k", []byte("v")); err != nil {
					b.Fatal(err)
				}
				sh := c.shards[0]
				if rep, err := sh.leaderReplica(); err == nil {
					target := rep.commitIndex()
					for _, st := range sh.seats() {
						if err := c.waitCaughtUp(ctx, st, target); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			reportTook(b, took)
		})
	}
}

// BenchmarkPartitionLeaderElection is BenchmarkKillLeaderElection with the
// leader's node partitioned off instead of killed, then healed. A partition
// closes no connection, so the followers find the leader gone by raft's own
// timers alone: for comparison with the kill.
func BenchmarkPartitionLeaderElection(b *testing.B) {
	c := newTestCluster(b, 3, oneShard, func(cfg *Config) { cfg.LogOutput = nil })
	ctx := context.Background()
	var took []time.Duration
	for b.Loop() {
		leader, err := c.ShardLeader(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		_, since := c.Elections(0)
		if err := c.Partition(leader); err != nil {
			b.Fatal(err)
		}
		var got []time.Duration
		waitFor(b, "a leader elsewhere", func() bool {
			got = append(got, electionsTook(c, since)...)
			_, since = c.Elections(since)
			return len(got) > 0
		})
		took = append(took, got...)
		c.Heal()
		if err := c.Put(ctx, "k", []byte("v")); err != nil {
			b.Fatal(err)
		}
		waitCaughtUp(b, c, 0)
	}
	reportTook(b, took)
}

// electionsTook returns how long each election recorded since took.
func electionsTook(c *Cluster, since uint64) []time.Duration {
	var took []time.Duration
	events, _ := c.Elections(since)
	for _, e := range events {
		if e.Took > 0 {
			took = append(took, e.Took)
		}
	}
	return took
}

// reportTook reports the p50, p99 and max of took, in milliseconds.
func reportTook(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		b.Fatal("no election recorded")
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100])/float64(time.Millisecond), "p99-ms")
	b.ReportMetric(float64(took[len(took)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(float64(len(took)), "elections")
}

// writeInBackground has n clients Put 128-byte values to c until the
// returned stop is called.
func writeInBackground(b testing.TB, c *Cluster, n int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	value := bytes.Repeat([]byte{'x'}, benchValueSize)
	for w := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				// Errors are expected while the shard has no leader.
				_ = c.Put(ctx, "bg-"+strconv.Itoa(w)+"-"+strconv.Itoa(i%benchKeys), value)
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// BenchmarkFirstLeader starts a fresh 3-node cluster of 3 shards per
// iteration, with 50 ms raft timeouts, and reports when it had its first
// leader (first-ms: the soonest of its shards' first elections) and when
// every shard had one (all-ms), both from the shards' start (Election.Took
// of a shard's first election).
func BenchmarkFirstLeader(b *testing.B) {
	var first, all []time.Duration
	for b.Loop() {
		cfg := DefaultConfig()
		cfg.Nodes, cfg.LogOutput = 3, nil
		c, err := NewCluster(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		evs, _ := c.Elections(0)
		var lo, hi time.Duration
		for _, e := range evs {
			if e.From == "" && e.Took > 0 {
				if lo == 0 || e.Took < lo {
					lo = e.Took
				}
				hi = max(hi, e.Took)
			}
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		if lo == 0 {
			b.Fatal("no first election recorded")
		}
		first, all = append(first, lo), append(all, hi)
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"first", first}, {"all", all}} {
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2])/float64(time.Millisecond), m.name+"-p50-ms")
		b.ReportMetric(float64(m.d[len(m.d)-1])/float64(time.Millisecond), m.name+"-max-ms")
	}
}

package core

import (
	"bytes"
	"context"
	"os"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPutScale is Put from 20 clients on one shard of 3 nodes and on
// the seed's 20 nodes and 20 shards, at 1 MiB and 1 KiB (and at 1 KiB over
// TCP links, against the default Unix sockets), side by side in one run so
// that their ratio holds on a busy machine. Sized as the runner sizes
// a 4 GiB budget. Besides ops/s it reports the mean latency, the process's
// CPU time per op (user and system, the cluster's background included),
// which a machine shared with other work changes far less than ops/s, the
// elections no fault caused (the count after the cluster settled) and the
// live heap.
func BenchmarkPutScale(b *testing.B) {
	cases := []struct {
		name          string
		nodes, shards int
		value         int
		links         string
	}{
		{"1shard-1MiB", 3, 1, 1 << 20, ""},
		{"20shards-1MiB", 20, 20, 1 << 20, ""},
		{"20shards-1KiB", 20, 20, 1 << 10, ""},
		{"20shards-1KiB-tcp", 20, 20, 1 << 10, LinksTCP},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := newTestCluster(b, tc.nodes, func(cfg *Config) {
				cfg.Shards = tc.shards
				cfg.Links = tc.links
				cfg.LogOutput = nil
				if f := os.Getenv("PHANTOM_BENCH_RAFTLOG"); f != "" {
					w, err := os.Create(f + "." + tc.name)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { w.Close() })
					cfg.LogOutput = w
				}
				sizeForBudget(cfg, 4<<30, tc.value)
			})
			value := bytes.Repeat([]byte{'x'}, tc.value)
			keys := 1024
			if tc.value >= 1<<20 {
				keys = 170
			}
			ctx := context.Background()
			_, since := c.Elections(0)
			var total atomic.Int64
			cpu0, cpuOK := processCPU()
			runClients(b, 20, func(i uint64) error {
				start := time.Now()
				err := c.Put(ctx, "key-"+strconv.FormatUint(i%uint64(keys), 10), value)
				total.Add(int64(time.Since(start)))
				return err
			})
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
			}
			ev, _ := c.Elections(since)
			b.ReportMetric(float64(total.Load())/float64(b.N)/1e6, "avg-ms")
			b.ReportMetric(float64(len(ev)), "elections")
			s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			metrics.Read(s)
			b.ReportMetric(float64(s[0].Value.Uint64())/(1<<20), "heap-MiB")
		})
	}
}

// sizeForBudget sets cfg's log sizes as suites' runner does for budget.
func sizeForBudget(cfg *Config, budget int64, valueSize int) {
	live := budget / 2
	perValue := int64(valueSize) + 64
	r := int64(ReplicationFactor(cfg.Nodes))
	threshold := live / 2 / (int64(cfg.shardCount()) * r * perValue * 5 / 4)
	cfg.SnapshotThreshold = uint64(min(max(threshold, 8), 8192))
	cfg.TrailingLogs = cfg.SnapshotThreshold / 4
	cfg.MaxAppendEntries = int(min(max(1<<20/perValue, 1), 64))
}

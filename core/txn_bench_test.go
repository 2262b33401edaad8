package core

import (
	"bytes"
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchTxnCluster is the setting: 4 shards of 3 replicas on 4 nodes.
func benchTxnCluster(b *testing.B) *Cluster {
	return newTestCluster(b, 4, func(cfg *Config) { cfg.LogOutput = nil })
}

// txnBenchKeys returns n keys per shard.
func txnBenchKeys(c *Cluster, n int) [][]string {
	keys := make([][]string, c.Shards())
	for i, full := 0, 0; full < len(keys); i++ {
		k := "bk-" + strconv.Itoa(i)
		if s := c.ShardOf(k); len(keys[s]) < n {
			keys[s] = append(keys[s], k)
			if len(keys[s]) == n {
				full++
			}
		}
	}
	return keys
}

// BenchmarkTxn2PC runs 64 clients of two-participant transactions writing
// 128-byte values, and reports committed transactions per second.
func BenchmarkTxn2PC(b *testing.B) {
	c := benchTxnCluster(b)
	keys := txnBenchKeys(c, 4096)
	value := bytes.Repeat([]byte{'v'}, 128)
	var seq, committed, aborted atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(seq.Add(1))
			s := i % len(keys)
			k1 := keys[s][i%4096]
			k2 := keys[(s+1)%len(keys)][rand.IntN(4096)]
			_, err := c.Txn(ctx, Txn{Ops: []Op{Set(k1, value), Set(k2, value)}})
			if err == nil {
				committed.Add(1)
			} else {
				aborted.Add(1)
			}
		}
	})
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(committed.Load())/el, "commits/s")
	b.ReportMetric(float64(aborted.Load())/float64(max(1, b.N)), "aborts/op")
}

// BenchmarkSaga2Step runs 64 clients of two-step sagas writing 128-byte
// values on two shards, and reports completed sagas per second.
func BenchmarkSaga2Step(b *testing.B) {
	c := benchTxnCluster(b)
	keys := txnBenchKeys(c, 4096)
	value := bytes.Repeat([]byte{'v'}, 128)
	var seq, done atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(seq.Add(1))
			s := i % len(keys)
			steps := []SagaStep{
				{Op: Set(keys[s][i%4096], value)},
				{Op: Set(keys[(s+1)%len(keys)][rand.IntN(4096)], value)},
			}
			if _, err := c.Saga(ctx, steps); err == nil {
				done.Add(1)
			}
		}
	})
	b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "sagas/s")
}

// BenchmarkTxnPutCeiling runs BenchmarkTxn2PC's clients doing plain puts of
// the same values on the same cluster: the ceiling, in Raft commands per
// second, that a transaction's several commands share.
func BenchmarkTxnPutCeiling(b *testing.B) {
	c := benchTxnCluster(b)
	keys := txnBenchKeys(c, 4096)
	value := bytes.Repeat([]byte{'v'}, 128)
	var seq atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(seq.Add(1))
			if err := c.Put(ctx, keys[i%len(keys)][i%4096], value); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

package suites

import (
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// BenchmarkCheckSixtySeconds checks the history a 60 s consensus run
// records at the default sampling: 20,000 iterations a second (three
// times what 8 clients reach on a 3-node cluster here) over 10,000 keys.
func BenchmarkCheckSixtySeconds(b *testing.B) {
	h := syntheticHistory(60*20_000, 8, 10_000)
	b.ResetTimer()
	var c metrics.Check
	for range b.N {
		c = h.check(context.Background(), "consensus", b.TempDir())
	}
	b.StopTimer()
	if c.Verdict != metrics.CheckOK {
		b.Fatalf("%v", c)
	}
	b.ReportMetric(float64(c.Ops), "ops-checked")
	b.ReportMetric(float64(c.Keys), "keys")
}

// BenchmarkRecordOp is the history's cost per consensus op at the default
// sampling (one key in 16 of 10,000), 1 KiB values: compare with
// BenchmarkConsensusPut.
func BenchmarkRecordOp(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "c/" + strconv.Itoa(i)
	}
	lim := defaultHistoryLimits
	lim.OpsPerKey, lim.MaxOps = 1<<16, 1<<30 // never full in a benchmark: the dearest case
	h := newHistory(keys, lim)
	payload := make([]byte, 1024)
	var vb valueBuf
	b.ResetTimer()
	for i := range b.N {
		if k := h.key(i % len(keys)); k >= 0 {
			id, op := h.begin(k, true, 0)
			vb.with(payload, id)
			endWrite(op, nil)
		}
	}
}

// BenchmarkConsensusClient runs the consensus suite's client (8 of them)
// against a 3-node in-memory cluster, with and without recording the
// history; ns/op is per iteration over all clients.
func BenchmarkConsensusClient(b *testing.B) {
	for _, record := range []bool{false, true} {
		b.Run("history="+strconv.FormatBool(record), func(b *testing.B) {
			w, done := benchConsensus(b)
			defer done()
			if !record {
				w.hist = nil
			}
			specs := consensusSuite{}.Ops()
			col, err := metrics.NewCollector(specs, 4, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			col.Activate(0, len(specs))
			b.SetParallelism(4) // 8 clients on 2 cores
			var ids atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := w.Client(int(ids.Add(1)))
				rec := col.NewRecorder(0, len(specs))
				for pb.Next() {
					c.Do(context.Background(), rec)
				}
			})
		})
	}
}

// BenchmarkConsensusPut is one put of 1 KiB on a 3-node in-memory
// cluster, 8 at a time.
func BenchmarkConsensusPut(b *testing.B) {
	w, done := benchConsensus(b)
	defer done()
	payload := make([]byte, 1024)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			w.db.Put(context.Background(), w.keys[i%len(w.keys)], payload)
		}
	})
}

func benchConsensus(b *testing.B) (*consensusWorkload, func()) {
	cfg := core.DefaultConfig()
	cfg.Nodes = 3
	cfg.LogOutput = io.Discard
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := core.NewCluster(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	wl, err := consensusSuite{}.Prepare(ctx, Env{DB: db, Keys: 10_000, DataSize: 1024, Replicas: 1, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	return wl.(*consensusWorkload), func() { db.Close() }
}

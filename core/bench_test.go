package core

import (
	"bytes"
	"context"
	"strconv"
	"sync/atomic"
	"testing"
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

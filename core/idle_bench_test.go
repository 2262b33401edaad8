package core

import (
	"testing"
	"time"
)

// BenchmarkIdleCPU measures what a cluster at rest costs: the seed's 20
// nodes and 20 shards doing nothing but heartbeats, for a second per op.
// It reports the process's CPU per wall second (cpu-ms/s, 1000 being one
// core busy), which the transport's encoding and connection handling set.
func BenchmarkIdleCPU(b *testing.B) {
	c := newTestCluster(b, 20, func(cfg *Config) {
		cfg.Shards = 20
		cfg.LogOutput = nil
	})
	_ = c
	time.Sleep(2 * time.Second) // elections and dials settle
	cpu0, ok := processCPU()
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	if cpu1, ok1 := processCPU(); ok && ok1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Since(start))*1e3, "cpu-ms/s")
	}
}

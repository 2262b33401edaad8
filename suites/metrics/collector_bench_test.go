package metrics

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCollectorTick is one tick of five ops that each recorded 1,000
// latencies from 100µs to 50ms: the harvest, every op's figures, and the
// series point and latency spectrum each tick adds.
func BenchmarkCollectorTick(b *testing.B) {
	var ops []OpSpec
	for i := range 5 {
		ops = append(ops, OpSpec{Name: fmt.Sprintf("s.op%d", i), Suite: "s", Primary: i == 0})
	}
	start := time.Unix(1000, 0)
	c, err := NewCollector(ops, 4, start)
	if err != nil {
		b.Fatal(err)
	}
	c.Activate(0, len(ops))
	rec := c.NewRecorder(0, len(ops))
	now := start
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for op := range ops {
			for j := range 1000 {
				rec.Record(op, 100*time.Microsecond+time.Duration(j)*50*time.Microsecond)
			}
		}
		now = now.Add(250 * time.Millisecond)
		b.StartTimer()
		c.Tick(now)
	}
}

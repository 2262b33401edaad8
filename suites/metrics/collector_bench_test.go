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

// BenchmarkHarvest is one tick of the seed's consensus suite as the
// collector sees it: 20 workers × 10 ops, each worker recording 125
// latencies of 0.5–4.4 ms and one 300 ms election stall per op in the tick.
func BenchmarkHarvest(b *testing.B) {
	var ops []OpSpec
	for i := range 10 {
		ops = append(ops, OpSpec{Name: fmt.Sprintf("s.op%d", i), Suite: "s", Primary: i == 0})
	}
	start := time.Unix(1000, 0)
	c, err := NewCollector(ops, 4, start)
	if err != nil {
		b.Fatal(err)
	}
	c.Activate(0, len(ops))
	var recs []*Recorder
	for range 20 {
		recs = append(recs, c.NewRecorder(0, len(ops)))
	}
	now := start
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, rec := range recs {
			for op := range ops {
				for j := range 125 {
					rec.Record(op, 500*time.Microsecond+time.Duration(j*j)*time.Microsecond/4)
				}
				rec.Record(op, 300*time.Millisecond)
			}
		}
		now = now.Add(250 * time.Millisecond)
		b.StartTimer()
		c.Tick(now)
	}
}

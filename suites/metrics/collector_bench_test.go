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
	benchTicks(b, 5, 1, func(rec *Recorder, op int) {
		for j := range 1000 {
			rec.Record(op, 100*time.Microsecond+time.Duration(j)*50*time.Microsecond)
		}
	})
}

// BenchmarkHarvest is one tick of the seed's consensus suite as the
// collector sees it: 20 workers × 10 ops, each worker recording 125
// latencies of 0.5–4.4 ms and one 300 ms election stall per op in the tick.
func BenchmarkHarvest(b *testing.B) {
	benchTicks(b, 10, 20, func(rec *Recorder, op int) {
		for j := range 125 {
			rec.Record(op, 500*time.Microsecond+time.Duration(j*j)*time.Microsecond/4)
		}
		rec.Record(op, 300*time.Millisecond)
	})
}

// benchTicks times the collector's Tick over ops ops and workers
// recorders, each of which record fills for every op before each tick
// (untimed).
func benchTicks(b *testing.B, ops, workers int, record func(rec *Recorder, op int)) {
	var specs []OpSpec
	for i := range ops {
		specs = append(specs, OpSpec{Name: fmt.Sprintf("s.op%d", i), Suite: "s", Primary: i == 0})
	}
	start := time.Unix(1000, 0)
	c, err := NewCollector(specs, 4, start)
	if err != nil {
		b.Fatal(err)
	}
	c.Activate(0, ops)
	var recs []*Recorder
	for range workers {
		recs = append(recs, c.NewRecorder(0, ops))
	}
	now := start
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, rec := range recs {
			for op := range ops {
				record(rec, op)
			}
		}
		now = now.Add(250 * time.Millisecond)
		b.StartTimer()
		c.Tick(now)
	}
}

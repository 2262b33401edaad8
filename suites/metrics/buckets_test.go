package metrics

import (
	"testing"
	"time"
)

// The cumulative buckets count every op since the start, never a value
// above its bound, and keep counting across ticks and idle ticks.
func TestBucketsCountCumulatively(t *testing.T) {
	start := time.Unix(1000, 0)
	c, err := NewCollector([]OpSpec{{Name: "x.op", Suite: "x", Primary: true}}, 2, start)
	if err != nil {
		t.Fatal(err)
	}
	c.Activate(0, 1)
	r := c.NewRecorder(0, 1)
	lats := []time.Duration{50 * time.Microsecond, 900 * time.Microsecond, 3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Second}
	var sum time.Duration
	for _, d := range lats {
		r.Record(0, d)
		sum += d
	}
	c.Tick(start.Add(time.Second))
	r.Record(0, 40*time.Millisecond)
	sum += 40 * time.Millisecond
	c.Tick(start.Add(2 * time.Second))
	ops := c.Tick(start.Add(3 * time.Second)) // idle: the buckets stay
	o := ops[0]
	if o.Total.Count != 6 || o.LatencySum != sum {
		t.Fatalf("count %d sum %v, want 6 and %v", o.Total.Count, o.LatencySum, sum)
	}
	want := map[time.Duration]uint64{
		100 * time.Microsecond: 1, time.Millisecond: 2, 5 * time.Millisecond: 3,
		50 * time.Millisecond: 5, time.Second: 5, 2500 * time.Millisecond: 6, 30 * time.Second: 6,
	}
	if len(o.Buckets) != len(LatencyBounds) {
		t.Fatalf("%d buckets for %d bounds", len(o.Buckets), len(LatencyBounds))
	}
	for j, b := range LatencyBounds {
		if n, ok := want[b]; ok && o.Buckets[j] != n {
			t.Errorf("le %v: %d ops, want %d (buckets %v)", b, o.Buckets[j], n, o.Buckets)
		}
		if j > 0 && o.Buckets[j] < o.Buckets[j-1] {
			t.Errorf("buckets not cumulative: %v", o.Buckets)
		}
	}
}

package metrics

import (
	"errors"
	"maps"
	"math"
	"sync"
	"testing"
	"time"
)

func near(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	// HDR histograms at 3 significant digits are within 0.1% of the value.
	if math.Abs(float64(got-want)) > float64(want)*0.001+1 {
		t.Errorf("%s = %v, want %v (±0.1%%)", what, got, want)
	}
}

func TestFiguresFromKnownLatencies(t *testing.T) {
	start := time.Unix(1000, 0)
	c, err := NewCollector([]OpSpec{{Name: "x.op", Suite: "x", Primary: true}}, 4, start)
	if err != nil {
		t.Fatal(err)
	}
	c.Activate(0, 1)
	a, b := c.NewRecorder(0, 1), c.NewRecorder(0, 1)
	// 1..100 ms split over two workers: avg 50.5 ms, p50 50 ms, p90 90 ms, p99 99 ms.
	for i := 1; i <= 100; i++ {
		r := a
		if i%2 == 0 {
			r = b
		}
		r.Record(0, time.Duration(i)*time.Millisecond)
	}
	a.Fail(0, ErrTimeout)
	b.Fail(0, ErrTimeout)
	b.Fail(0, ErrOther)

	ops := c.Tick(start.Add(2 * time.Second))
	if len(ops) != 1 {
		t.Fatalf("got %d ops, want 1", len(ops))
	}
	f := ops[0].Total
	if f.Count != 100 || f.Errors != 3 {
		t.Fatalf("count %d errors %d, want 100 and 3", f.Count, f.Errors)
	}
	if f.ErrorsBy["timeout"] != 2 || f.ErrorsBy["other"] != 1 {
		t.Errorf("errors by kind = %v, want timeout 2, other 1", f.ErrorsBy)
	}
	if f.Latency.Avg != 50500*time.Microsecond {
		t.Errorf("avg = %v, want exactly 50.5ms", f.Latency.Avg)
	}
	if f.Latency.Min != time.Millisecond || f.Latency.Max != 100*time.Millisecond {
		t.Errorf("min %v max %v, want exactly 1ms and 100ms", f.Latency.Min, f.Latency.Max)
	}
	near(t, "p50", f.Latency.P50, 50*time.Millisecond)
	near(t, "p90", f.Latency.P90, 90*time.Millisecond)
	near(t, "p99", f.Latency.P99, 99*time.Millisecond)
	near(t, "p99.9", f.Latency.P999, 100*time.Millisecond)
	if f.OpsPerSec != 50 || f.Elapsed != 2*time.Second {
		t.Errorf("ops/s %v over %v, want 50 over 2s", f.OpsPerSec, f.Elapsed)
	}
	if ops[0].Window.Count != 100 || ops[0].Window.OpsPerSec != 50 {
		t.Errorf("window %d at %v ops/s, want 100 at 50", ops[0].Window.Count, ops[0].Window.OpsPerSec)
	}
}

func TestWindowSlidesAndTotalAccumulates(t *testing.T) {
	start := time.Unix(1000, 0)
	c, _ := NewCollector([]OpSpec{{Name: "x.op", Suite: "x"}}, 2, start)
	c.Activate(0, 1)
	r := c.NewRecorder(0, 1)
	now := start
	tick := func(n int, d time.Duration) OpStats {
		for i := 0; i < n; i++ {
			r.Record(0, d)
		}
		now = now.Add(time.Second)
		return c.Tick(now)[0]
	}
	tick(10, time.Millisecond)
	tick(20, 2*time.Millisecond)
	s := tick(30, 3*time.Millisecond)
	// The window holds the last two ticks: 50 ops over 2 s.
	if s.Window.Count != 50 || s.Window.OpsPerSec != 25 {
		t.Errorf("window %d ops at %v/s, want 50 at 25/s", s.Window.Count, s.Window.OpsPerSec)
	}
	wantAvg := time.Duration((20*2 + 30*3) * int64(time.Millisecond) / 50)
	if s.Window.Latency.Avg != wantAvg {
		t.Errorf("window avg %v, want %v", s.Window.Latency.Avg, wantAvg)
	}
	if s.Total.Count != 60 || s.Total.OpsPerSec != 20 {
		t.Errorf("total %d ops at %v/s, want 60 at 20/s", s.Total.Count, s.Total.OpsPerSec)
	}
	if len(s.History) != 3 || s.History[2].OpsPerSec != 25 {
		t.Errorf("history %+v, want 3 points ending at 25 ops/s", s.History)
	}
}

func TestInactiveTimeIsNotCounted(t *testing.T) {
	start := time.Unix(1000, 0)
	c, _ := NewCollector([]OpSpec{{Name: "a.op", Suite: "a"}, {Name: "b.op", Suite: "b"}}, 4, start)
	ra := c.NewRecorder(0, 1)
	c.Activate(0, 1)
	ra.Record(0, time.Millisecond)
	ops := c.Tick(start.Add(time.Second))
	if len(ops) != 1 || ops[0].Name != "a.op" {
		t.Fatalf("ops %+v, want only a.op before b starts", ops)
	}
	c.Deactivate(0, 1)
	c.Activate(1, 1)
	rb := c.NewRecorder(1, 1)
	rb.Record(0, time.Millisecond)
	rb.Record(0, time.Millisecond)
	ops = c.Tick(start.Add(3 * time.Second))
	a, b := ops[0], ops[1]
	if a.Total.Elapsed != time.Second || a.Total.OpsPerSec != 1 {
		t.Errorf("a.op measured %v at %v/s, want 1s at 1/s", a.Total.Elapsed, a.Total.OpsPerSec)
	}
	if b.Total.Elapsed != 2*time.Second || b.Total.OpsPerSec != 1 {
		t.Errorf("b.op measured %v at %v/s, want 2s at 1/s", b.Total.Elapsed, b.Total.OpsPerSec)
	}
}

// Workers record while the collector harvests: nothing is lost or counted
// twice, and the race detector sees no unsynchronised access.
func TestConcurrentRecordingLosesNothing(t *testing.T) {
	c, _ := NewCollector([]OpSpec{{Name: "x.op", Suite: "x"}}, 4, time.Now())
	c.Activate(0, 1)
	const workers, each = 4, 20000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		r := c.NewRecorder(0, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for i := 0; i < each; i++ {
				r.Record(0, time.Duration(i%1000+1)*time.Microsecond)
				if i%100 == 0 {
					r.Fail(0, ErrConflict)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last []OpStats
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		last = c.Tick(time.Now())
	}
	f := last[0].Total
	if f.Count != workers*each || f.Errors != workers*each/100 {
		t.Errorf("count %d errors %d, want %d and %d", f.Count, f.Errors, workers*each, workers*each/100)
	}
	if n := len(c.recs); n != 0 {
		t.Errorf("%d closed recorders still held after the final tick", n)
	}
}

func TestNewCollectorRejectsBadInput(t *testing.T) {
	if _, err := NewCollector(nil, 0, time.Now()); err == nil {
		t.Error("window 0 accepted")
	}
	if _, err := NewCollector([]OpSpec{{Name: "a"}, {Name: "a"}}, 1, time.Now()); err == nil {
		t.Error("duplicate op accepted")
	}
}

func TestRecordClampsOutOfRange(t *testing.T) {
	c, _ := NewCollector([]OpSpec{{Name: "x.op"}}, 1, time.Now())
	c.Activate(0, 1)
	r := c.NewRecorder(0, 1)
	r.Record(0, 2*time.Minute)
	r.Record(0, -time.Second)
	f := c.Tick(time.Now().Add(time.Second))[0].Total
	if f.Count != 2 || f.Latency.Max != 60*time.Second || f.Latency.Min != 0 {
		t.Errorf("count %d min %v max %v, want 2, 0 and 60s", f.Count, f.Latency.Min, f.Latency.Max)
	}
}

// BenchmarkRecord is the per-operation cost of measuring: reading the clock
// twice and recording into the worker's histogram.
func BenchmarkRecord(b *testing.B) {
	c, _ := NewCollector([]OpSpec{{Name: "x.op"}}, 4, time.Now())
	r := c.NewRecorder(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		start := Now()
		r.Record(0, start.Elapsed()+time.Millisecond)
	}
}

// BenchmarkRecordWallClock is BenchmarkRecord timed with time.Now and
// time.Since, which read the clock three times instead of two.
func BenchmarkRecordWallClock(b *testing.B) {
	c, _ := NewCollector([]OpSpec{{Name: "x.op"}}, 4, time.Now())
	r := c.NewRecorder(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		r.Record(0, time.Since(start)+time.Millisecond)
	}
}

// BenchmarkRecordWhileHarvesting measures recording with a collector
// harvesting the same recorder every millisecond.
func BenchmarkRecordWhileHarvesting(b *testing.B) {
	c, _ := NewCollector([]OpSpec{{Name: "x.op"}}, 4, time.Now())
	r := c.NewRecorder(0, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				c.Tick(now)
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		start := Now()
		r.Record(0, start.Elapsed()+time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

// BenchmarkRecordOnly is Record alone, without reading the clock.
func BenchmarkRecordOnly(b *testing.B) {
	c, _ := NewCollector([]OpSpec{{Name: "x.op"}}, 4, time.Now())
	r := c.NewRecorder(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		r.Record(0, time.Millisecond)
	}
}

func BenchmarkClock(b *testing.B) {
	for b.Loop() {
		start := time.Now()
		_ = time.Since(start)
	}
}

func TestStampMeasuresElapsedTime(t *testing.T) {
	s := Now()
	time.Sleep(10 * time.Millisecond)
	if d := s.Elapsed(); d < 10*time.Millisecond || d > 10*time.Second {
		t.Errorf("Elapsed after a 10ms sleep = %v", d)
	}
}

// An op's errors keep a text of each kind for the report: the first a
// worker kept, not replaced by later ones, counted as Fail counts; and a
// worker's later failures of the same op and kind allocate nothing.
func TestErrorSamples(t *testing.T) {
	start := time.Unix(1000, 0)
	c, err := NewCollector([]OpSpec{{Name: "x.a", Suite: "x", Primary: true}, {Name: "x.b", Suite: "x"}}, 4, start)
	if err != nil {
		t.Fatal(err)
	}
	c.Activate(0, 2)
	a, b := c.NewRecorder(0, 2), c.NewRecorder(0, 2)
	a.FailErr(1, ErrOther, errors.New("message larger than max"))
	a.FailErr(1, ErrOther, errors.New("something later"))
	a.FailErr(1, ErrTimeout, errors.New("deadline exceeded"))
	b.Fail(1, ErrOther)
	ops := c.Tick(start.Add(time.Second))
	got := ops[1].ErrorSamples
	want := map[string]string{"other": "message larger than max", "timeout": "deadline exceeded"}
	if !maps.Equal(got, want) {
		t.Errorf("samples %v, want %v", got, want)
	}
	if e := ops[1].Total.ErrorsBy; e["other"] != 3 || e["timeout"] != 1 {
		t.Errorf("errors by kind %v, want other 3, timeout 1", e)
	}
	if ops[0].ErrorSamples != nil {
		t.Errorf("an op without errors has samples %v", ops[0].ErrorSamples)
	}
	// A later worker's text of a kind already kept does not replace it.
	b.FailErr(1, ErrOther, errors.New("from b"))
	if got := c.Tick(start.Add(2 * time.Second))[1].ErrorSamples["other"]; got != "message larger than max" {
		t.Errorf("after b's error the sample is %q", got)
	}
	e := errors.New("again")
	if n := testing.AllocsPerRun(100, func() { a.FailErr(1, ErrOther, e) }); n != 0 {
		t.Errorf("a repeated failure allocates %v times", n)
	}
}

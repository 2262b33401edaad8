package metrics

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestFoldingKeepsEveryFigure checks that what the collector shows — a
// tick's, its window's, the total's and the latency buckets' figures — is
// what one histogram of the same values shows, whether the values reach it
// as raw values or through histograms: ticks below every cap, a worker
// overflowing rawCap, and the op's tick overflowing mirrorCap, in the
// closed loop and the open.
func TestFoldingKeepsEveryFigure(t *testing.T) {
	for _, open := range []bool{false, true} {
		ops := []OpSpec{{Name: "s.a", Suite: "s", Primary: true}, {Name: "s.b", Suite: "s"}}
		start := time.Unix(1000, 0)
		const window = 4
		c, err := NewCollector(ops, window, start)
		if err != nil {
			t.Fatal(err)
		}
		if open {
			c.OpenLoop()
		}
		c.Activate(0, len(ops))
		recs := []*Recorder{c.NewRecorder(0, len(ops)), c.NewRecorder(0, len(ops)), c.NewRecorder(0, len(ops))}
		rng := rand.New(rand.NewPCG(1, 2))
		// Values a tick per recorder: few; more than rawCap; more than
		// mirrorCap over the three; and none.
		perTick := []int{7, rawCap + 300, mirrorCap/3 + 500, 0, 40, 3 * rawCap, 1}
		total := newBucket()
		var ticks []*bucket
		now := start
		for k, n := range perTick {
			ref := newBucket()
			if open {
				ref.svc = newDist()
				if total.svc == nil {
					total.svc = newDist()
				}
			}
			for _, r := range recs {
				lag := time.Duration(rng.IntN(5000)) * time.Microsecond
				if open {
					r.SetLag(lag)
				}
				for range n {
					d := time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond))
					if rng.IntN(200) == 0 {
						d = time.Duration(rng.IntN(20)) * time.Second // a stall now and then
					}
					r.Record(0, d)
					svc := clampLatency(int64(d))
					ref.lat.record(clampLatency(svc + int64(lagIf(open, lag))))
					total.lat.record(clampLatency(svc + int64(lagIf(open, lag))))
					if open {
						ref.svc.record(svc)
						total.svc.record(svc)
					}
				}
			}
			ticks = append(ticks, ref)
			now = now.Add(250 * time.Millisecond)
			st := c.Tick(now)[0]
			if want := figuresOf(ref, 250*time.Millisecond); !reflect.DeepEqual(st.Tick, want) {
				t.Fatalf("open=%v tick %d (%d a recorder): tick figures\n got %+v\nwant %+v", open, k, n, st.Tick, want)
			}
			win := newBucket()
			if open {
				win.svc = newDist()
			}
			for _, b := range ticks[max(0, len(ticks)-window):] {
				win.add(b)
			}
			if want := figuresOf(win, time.Duration(min(len(ticks), window))*250*time.Millisecond); !reflect.DeepEqual(st.Window, want) {
				t.Fatalf("open=%v tick %d: window figures\n got %+v\nwant %+v", open, k, st.Window, want)
			}
			if want := figuresOf(total, time.Duration(len(ticks))*250*time.Millisecond); !reflect.DeepEqual(st.Total, want) {
				t.Fatalf("open=%v tick %d: total figures\n got %+v\nwant %+v", open, k, st.Total, want)
			}
			coarse := newHistogramCoarse()
			coarse.Merge(total.lat.hist)
			if want := bucketsOf(coarse); !reflect.DeepEqual(st.Buckets, want) {
				t.Fatalf("open=%v tick %d: buckets %v, want %v", open, k, st.Buckets, want)
			}
		}
	}
}

func lagIf(open bool, lag time.Duration) time.Duration {
	if open {
		return lag
	}
	return 0
}

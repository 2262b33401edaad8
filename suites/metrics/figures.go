package metrics

import (
	"time"
)

// Latency holds the latency figures of a set of operations.
type Latency struct {
	Avg, Min, Max, P50, P90, P99, P999 time.Duration
}

// Figures are the stats of one op over some span of time: a window, an epoch
// or the whole run. Count is successful completions; Errors is failed
// attempts; OpsPerSec is Count over Elapsed, the measured span.
type Figures struct {
	Count     uint64
	Errors    uint64
	ErrorsBy  map[string]uint64 // by ErrorKind name; nil when there were none
	OpsPerSec float64
	Elapsed   time.Duration
	Latency   Latency  // open loop: from each op's intended start
	Service   *Latency // open loop only: from each op's actual start
}

// figuresOf computes the figures of b over the measured span elapsed.
func figuresOf(b *bucket, elapsed time.Duration) Figures {
	n := b.lat.hist.TotalCount()
	f := Figures{Count: uint64(n), Elapsed: elapsed, OpsPerSec: rate(uint64(n), elapsed)}
	for k, e := range b.errors {
		if e == 0 {
			continue
		}
		f.Errors += e
		if f.ErrorsBy == nil {
			f.ErrorsBy = make(map[string]uint64, 1)
		}
		f.ErrorsBy[ErrorKind(k).String()] = e
	}
	if n == 0 {
		return f
	}
	f.Latency = latencyOf(&b.lat)
	if b.svc != nil {
		svc := latencyOf(b.svc)
		f.Service = &svc
	}
	return f
}

func latencyOf(d *dist) Latency {
	n := d.hist.TotalCount()
	if n == 0 {
		return Latency{}
	}
	// Percentiles are the highest value of their histogram bucket, which
	// can overshoot the exact maximum by up to 0.1%; clamp so p99 <= max.
	pct := func(q float64) time.Duration { return time.Duration(min(d.hist.ValueAtPercentile(q), d.maxNs)) }
	return Latency{
		Avg:  time.Duration(d.sumNs / n),
		Min:  time.Duration(d.minNs),
		Max:  time.Duration(d.maxNs),
		P50:  pct(50),
		P90:  pct(90),
		P99:  pct(99),
		P999: pct(99.9),
	}
}

// rate is count per second over elapsed; zero when no time was measured.
func rate(count uint64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(count) / elapsed.Seconds()
}

package metrics

import (
	"bufio"
	"io"
	"strconv"
	"time"
)

// SeriesWriter writes the per-tick time series as CSV, one row per tick per
// running op, for plotting elsewhere. Rows are written as snapshots arrive,
// so memory stays flat however long the run.
type SeriesWriter struct {
	w       *bufio.Writer
	lastSeq uint64
	err     error
}

// SeriesHeader names the CSV columns. Figures are of that tick alone;
// latencies are in milliseconds.
const SeriesHeader = "at_s,suite,op,count,errors,ops_per_sec,avg_ms,min_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms"

// NewSeriesWriter writes the header to w and returns the writer.
func NewSeriesWriter(w io.Writer) *SeriesWriter {
	s := &SeriesWriter{w: bufio.NewWriter(w)}
	_, s.err = s.w.WriteString(SeriesHeader + "\n")
	return s
}

// Add writes the rows of one snapshot: every op that ran during its tick.
// A snapshot seen before is skipped.
func (s *SeriesWriter) Add(snap *Snapshot) {
	if s.err != nil || snap.Seq <= s.lastSeq || snap.Phase != PhaseRunning {
		return
	}
	s.lastSeq = snap.Seq
	buf := make([]byte, 0, 256)
	for _, o := range snap.Ops {
		f := o.Tick
		if f.Elapsed == 0 && f.Count == 0 && f.Errors == 0 {
			continue // the op's suite was not running
		}
		buf = buf[:0]
		buf = strconv.AppendFloat(buf, snap.Elapsed.Seconds(), 'f', 3, 64)
		buf = append(buf, ',')
		buf = append(buf, o.Suite...)
		buf = append(buf, ',')
		buf = append(buf, o.Name...)
		buf = append(buf, ',')
		buf = strconv.AppendUint(buf, f.Count, 10)
		buf = append(buf, ',')
		buf = strconv.AppendUint(buf, f.Errors, 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, f.OpsPerSec, 'f', 1, 64)
		l := f.Latency
		for _, d := range []time.Duration{l.Avg, l.Min, l.P50, l.P90, l.P99, l.P999, l.Max} {
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, float64(d)/float64(time.Millisecond), 'f', 3, 64)
		}
		buf = append(buf, '\n')
		if _, s.err = s.w.Write(buf); s.err != nil {
			return
		}
	}
}

// Flush writes out buffered rows and returns the first error met.
func (s *SeriesWriter) Flush() error {
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

package metrics

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// The report's data for its charts: each op's series and latency
// spectrum, the resources over time. Absent from reports written before
// they were, which render without those charts.

// Num is a figure that may be missing: NaN in memory, null in JSON.
type Num float64

// MarshalJSON writes NaN and the infinities as null.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads null as NaN.
func (n *Num) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

// Missing reports whether n has no value.
func (n Num) Missing() bool { return math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) }

// SeriesReport is an op's figures over time, a column per figure, one
// row per point: the point covers span_s of measured time ending at_s
// seconds after the load started (the clock of events and epochs).
// ops_per_sec is count over span_s, 0 when span_s is 0 (ops harvested
// after the suite's load ended, while its clients drained); p50_ms and
// p99_ms are from the point's own HDR histogram, null when it completed
// nothing.
type SeriesReport struct {
	AtS       []float64 `json:"at_s"`
	SpanS     []float64 `json:"span_s"`
	Count     []uint64  `json:"count"`
	Errors    []uint64  `json:"errors"`
	OpsPerSec []float64 `json:"ops_per_sec"`
	P50Ms     []Num     `json:"p50_ms"`
	P99Ms     []Num     `json:"p99_ms"`
}

// SpectrumPointReport is an op's latency at one percentile of its whole
// run, from its HDR histogram.
type SpectrumPointReport struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// ResourceSeriesReport is the system gauges over time, averaged over each
// point's step; null where a gauge had no reading.
type ResourceSeriesReport struct {
	AtS                  []float64 `json:"at_s"`
	MachineCPUPercent    []Num     `json:"machine_cpu_percent"`
	ProcessCPUPercent    []Num     `json:"process_cpu_percent"`
	RSSBytes             []Num     `json:"rss_bytes"`
	MemUsedBytes         []Num     `json:"mem_used_bytes"`
	NetRxBytesPerSec     []Num     `json:"net_rx_bytes_per_sec"`
	NetTxBytesPerSec     []Num     `json:"net_tx_bytes_per_sec"`
	DiskReadBytesPerSec  []Num     `json:"disk_read_bytes_per_sec"`
	DiskWriteBytesPerSec []Num     `json:"disk_write_bytes_per_sec"`
}

// NodeResourcesReport is one cluster node's resources over time: a
// process's or machine's of its own, or an embedded node's network only;
// the charts draw one line per node for every column present. Columns are
// as in ResourceSeriesReport; a column may be absent.
type NodeResourcesReport struct {
	Name                 string    `json:"name"`
	AtS                  []float64 `json:"at_s"`
	CPUPercent           []Num     `json:"cpu_percent,omitempty"`
	RSSBytes             []Num     `json:"rss_bytes,omitempty"`
	NetRxBytesPerSec     []Num     `json:"net_rx_bytes_per_sec,omitempty"`
	NetTxBytesPerSec     []Num     `json:"net_tx_bytes_per_sec,omitempty"`
	DiskReadBytesPerSec  []Num     `json:"disk_read_bytes_per_sec,omitempty"`
	DiskWriteBytesPerSec []Num     `json:"disk_write_bytes_per_sec,omitempty"`
}

// round keeps d decimals: the report's figures are not more precise.
func round(v float64, d int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow10(d)
	return math.Round(v*p) / p
}

func msOf(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 4) }

// seriesReport makes an op's series report; nil when it has no points.
func seriesReport(ps []SeriesPoint) *SeriesReport {
	if len(ps) == 0 {
		return nil
	}
	s := &SeriesReport{}
	for _, p := range ps {
		s.AtS = append(s.AtS, round(p.At.Seconds(), 3))
		s.SpanS = append(s.SpanS, round(p.Elapsed.Seconds(), 3))
		s.Count = append(s.Count, p.Count)
		s.Errors = append(s.Errors, p.Errors)
		s.OpsPerSec = append(s.OpsPerSec, round(p.OpsPerSec, 2))
		p50, p99 := Num(math.NaN()), Num(math.NaN())
		if p.Count > 0 {
			p50, p99 = Num(msOf(p.P50)), Num(msOf(p.P99))
		}
		s.P50Ms = append(s.P50Ms, p50)
		s.P99Ms = append(s.P99Ms, p99)
	}
	return s
}

func spectrumReport(vs []time.Duration) []SpectrumPointReport {
	if len(vs) != len(SpectrumPercentiles) {
		return nil
	}
	out := make([]SpectrumPointReport, len(vs))
	for i, v := range vs {
		out[i] = SpectrumPointReport{Percentile: SpectrumPercentiles[i], Ms: msOf(v)}
	}
	return out
}

func resourceSeriesReport(ps []SystemPoint) *ResourceSeriesReport {
	if len(ps) == 0 {
		return nil
	}
	r := &ResourceSeriesReport{}
	for _, p := range ps {
		r.AtS = append(r.AtS, round(p.At.Seconds(), 3))
		r.MachineCPUPercent = append(r.MachineCPUPercent, Num(round(p.CPU, 2)))
		r.ProcessCPUPercent = append(r.ProcessCPUPercent, Num(round(p.ProcessCPU, 2)))
		r.RSSBytes = append(r.RSSBytes, Num(math.Round(p.RSS)))
		r.MemUsedBytes = append(r.MemUsedBytes, Num(math.Round(p.MemUsed)))
		r.NetRxBytesPerSec = append(r.NetRxBytesPerSec, Num(math.Round(p.NetRx)))
		r.NetTxBytesPerSec = append(r.NetTxBytesPerSec, Num(math.Round(p.NetTx)))
		r.DiskReadBytesPerSec = append(r.DiskReadBytesPerSec, Num(math.Round(p.DiskRead)))
		r.DiskWriteBytesPerSec = append(r.DiskWriteBytesPerSec, Num(math.Round(p.DiskWrite)))
	}
	return r
}

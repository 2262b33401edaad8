package metrics

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The charts of a report, built from its data alone: the HTML report, the
// SVG files beside the Markdown report and `phantom report` all draw the
// same ones.

// opCharts are one op's charts: throughput and latency over time, and
// its latency spectrum.
type opCharts struct {
	op                            namedOp
	throughput, latency, spectrum *chart
}

// chartSet is every chart of a report, in the order the reports show them.
type chartSet struct {
	ops       []opCharts
	resources []*chart
	scaling   []*chart
}

// allCharts returns the charts of r.
func (r *Report) charts() chartSet {
	var cs chartSet
	bands := epochBands(r)
	marks := eventMarks(r)
	for _, o := range sortedOps(r) {
		cs.ops = append(cs.ops, opChartsOf(o, bands, marks))
	}
	cs.resources = resourceCharts(r, bands, marks)
	cs.scaling = scalingCharts(r)
	return cs
}

func epochBands(r *Report) []band {
	var out []band
	for _, e := range r.Epochs {
		out = append(out, band{x0: e.StartS, x1: e.EndS, label: fmt.Sprintf("%d %s", e.Index, e.Change)})
	}
	return out
}

func eventMarks(r *Report) []mark {
	var out []mark
	for _, e := range r.Events {
		for _, k := range markKinds {
			if e.Kind == string(k.kind) {
				out = append(out, mark{x: e.AtSeconds, kind: k.class, label: e.Message})
			}
		}
	}
	return out
}

// chartID makes a name safe for an id and a file name.
func chartID(parts ...string) string {
	s := strings.Join(parts, "-")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func secondsFmt(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "s" }

func countFmt(v float64) string { return FormatCount(v) }

func msFmt(v float64) string {
	if v == 0 {
		return "0"
	}
	return msText(v)
}

func bytesFmt(v float64) string { return FormatBytes(v) }

func rateFmt(v float64) string { return FormatBytes(v) + "/s" }

func pctFmt(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }

func percentileFmt(p float64) string {
	switch p {
	case 0:
		return "min"
	case 100:
		return "max"
	}
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// opChartsOf draws one op: over its series' span, with the run's epochs
// and marks that fall within it.
func opChartsOf(o namedOp, bands []band, marks []mark) opCharts {
	id := chartID(o.Name)
	oc := opCharts{op: o}
	tp := &chart{id: id + "-throughput", title: o.Name + " · throughput", xLabel: "seconds since the load started", yLabel: "ops/s",
		xFmt: secondsFmt, yFmt: countFmt, bands: bands, marks: marks, note: "no series in this report"}
	lat := &chart{id: id + "-latency", title: o.Name + " · latency p50 / p99", xLabel: "seconds since the load started", yLabel: "latency",
		xFmt: secondsFmt, yFmt: msFmt, bands: bands, marks: marks, note: "no series in this report"}
	if s := o.Series; s != nil && len(s.AtS) > 0 {
		n := len(s.AtS)
		tp.xMin = max(s.AtS[0]-s.SpanS[0], 0)
		tp.xMax = s.AtS[n-1]
		lat.xMin, lat.xMax = tp.xMin, tp.xMax
		// A point that measured no time (ops harvested after the
		// suite's load ended, a tick taken twice) has no rate: a gap.
		ops, errs := make([]float64, n), make([]float64, n)
		anyErr := false
		for i := range errs {
			ops[i], errs[i] = math.NaN(), math.NaN()
			if s.SpanS[i] > 0 {
				ops[i], errs[i] = s.OpsPerSec[i], float64(s.Errors[i])/s.SpanS[i]
			}
			anyErr = anyErr || s.Errors[i] > 0
		}
		tp.lines = append(tp.lines, line{name: "ops/s", class: "c0", xs: s.AtS, ys: ops})
		if anyErr {
			tp.lines = append(tp.lines, line{name: "errors/s", class: "c1", xs: s.AtS, ys: errs})
		}
		lat.lines = append(lat.lines,
			line{name: "p50", class: "c0", xs: s.AtS, ys: nums(s.P50Ms)},
			line{name: "p99", class: "c1", xs: s.AtS, ys: nums(s.P99Ms)})
	}
	sp := &chart{id: id + "-spectrum", title: o.Name + " · latency by percentile (HDR)", xLabel: "percentile", yLabel: "latency",
		xAxis: axisNines, xMin: 0, xMax: 100, xFmt: percentileFmt, yFmt: msFmt, note: "no spectrum in this report"}
	if len(o.LatencySpectrum) > 0 {
		var xs, ys []float64
		for _, p := range o.LatencySpectrum {
			xs, ys = append(xs, p.Percentile), append(ys, p.Ms)
		}
		sp.lines = []line{{name: "latency", class: "c0", dots: true, xs: xs, ys: ys}}
	}
	oc.throughput, oc.latency, oc.spectrum = tp, lat, sp
	return oc
}

func nums(ns []Num) []float64 {
	out := make([]float64, len(ns))
	for i, n := range ns {
		out[i] = float64(n)
	}
	return out
}

// resourceCharts draws the gauges over the run, and per node when the
// report has nodes' resources.
func resourceCharts(r *Report, bands []band, marks []mark) []*chart {
	s := r.Resources.Series
	var out []*chart
	mk := func(id, title, ylabel string, yFmt func(float64) string, yMax float64) *chart {
		c := &chart{id: id, title: title, xLabel: "seconds since the load started", yLabel: ylabel, xFmt: secondsFmt, yFmt: yFmt,
			yMax: yMax, yBinary: ylabel == "bytes" || ylabel == "bytes/s", bands: bands, marks: marks, note: "not sampled"}
		if r.ElapsedSeconds > 0 {
			c.xMin, c.xMax = 0, r.ElapsedSeconds
		}
		return c
	}
	type col struct {
		name string
		ys   []Num
	}
	add := func(c *chart, xs []float64, cols ...col) {
		for i, cl := range cols {
			if len(cl.ys) == len(xs) {
				c.lines = append(c.lines, line{name: cl.name, class: "c" + strconv.Itoa(i%8), xs: xs, ys: nums(cl.ys)})
			}
		}
		out = append(out, c)
	}
	if s != nil {
		add(mk("resources-cpu", "CPU", "percent of all cores", pctFmt, 100), s.AtS, col{"machine", s.MachineCPUPercent}, col{"phantom", s.ProcessCPUPercent})
		add(mk("resources-memory", "memory", "bytes", bytesFmt, 0), s.AtS, col{"machine used", s.MemUsedBytes}, col{"phantom RSS", s.RSSBytes})
		add(mk("resources-network", "network (all interfaces, loopback included)", "bytes/s", rateFmt, 0), s.AtS, col{"received", s.NetRxBytesPerSec}, col{"sent", s.NetTxBytesPerSec})
		add(mk("resources-disk", "disk", "bytes/s", rateFmt, 0), s.AtS, col{"read", s.DiskReadBytesPerSec}, col{"written", s.DiskWriteBytesPerSec})
	}
	if len(r.Resources.Nodes) > 0 {
		per := []struct {
			id, title, ylabel string
			yFmt              func(float64) string
			yMax              float64
			col               func(n NodeResourcesReport) []Num
		}{
			{"nodes-cpu", "CPU per node", "percent", pctFmt, 0, func(n NodeResourcesReport) []Num { return n.CPUPercent }},
			{"nodes-rss", "memory (RSS) per node", "bytes", bytesFmt, 0, func(n NodeResourcesReport) []Num { return n.RSSBytes }},
			{"nodes-net-rx", "network received per node", "bytes/s", rateFmt, 0, func(n NodeResourcesReport) []Num { return n.NetRxBytesPerSec }},
			{"nodes-net-tx", "network sent per node", "bytes/s", rateFmt, 0, func(n NodeResourcesReport) []Num { return n.NetTxBytesPerSec }},
			{"nodes-disk-read", "disk read per node", "bytes/s", rateFmt, 0, func(n NodeResourcesReport) []Num { return n.DiskReadBytesPerSec }},
			{"nodes-disk-write", "disk written per node", "bytes/s", rateFmt, 0, func(n NodeResourcesReport) []Num { return n.DiskWriteBytesPerSec }},
		}
		for _, p := range per {
			var cols []col
			c := mk(p.id, p.title, p.ylabel, p.yFmt, p.yMax)
			for i, n := range r.Resources.Nodes {
				ys := p.col(n)
				if len(ys) == 0 || len(ys) != len(n.AtS) {
					continue
				}
				cols = append(cols, col{n.Name, ys})
				c.lines = append(c.lines, line{name: n.Name, class: "c" + strconv.Itoa(i%8), xs: n.AtS, ys: nums(ys)})
			}
			if len(cols) > 0 {
				out = append(out, c)
			}
		}
	}
	return out
}

// scalingCharts draws each sweep: the measured throughput, linear
// scaling from its first point, and the USL curve when it was fitted.
func scalingCharts(r *Report) []*chart {
	sc := r.Scalability
	if sc == nil {
		return nil
	}
	sweeps := sc.Sweeps
	if len(sweeps) == 0 {
		sweeps = []SweepReport{{Kind: SweepClients, Points: sc.Points, Fit: sc.Fit, FitError: sc.FitError}}
	}
	var out []*chart
	for _, sw := range sweeps {
		c := &chart{id: chartID("scalability", sw.Kind), title: "scalability · " + sweepTitle(sw.Kind), xLabel: sw.Kind, yLabel: "ops/s",
			xFmt: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }, yFmt: countFmt, note: "nothing measured"}
		var xs, ys []float64
		maxN := 0.0
		var first *ScalePointReport
		for i, p := range sw.Points {
			maxN = max(maxN, float64(p.N))
			if p.Empty {
				continue
			}
			if first == nil {
				first = &sw.Points[i]
			}
			xs, ys = append(xs, float64(p.N)), append(ys, p.OpsPerSec)
		}
		if maxN > 0 {
			c.xMin, c.xMax = 0, maxN*1.1
		}
		c.lines = append(c.lines, line{name: "measured", class: "c0", dots: true, noLine: true, xs: xs, ys: ys})
		if f := sw.Fit; f != nil {
			var ux, uy []float64
			const steps = 120
			for i := 0; i <= steps; i++ {
				n := maxN * 1.1 * float64(i) / steps
				if n < 1 {
					continue
				}
				ux = append(ux, n)
				uy = append(uy, usl(f, n))
			}
			c.lines = append(c.lines, line{name: fmt.Sprintf("USL σ=%.3f κ=%.4f", f.Sigma, f.Kappa), class: "c1", xs: ux, ys: uy})
			// The linear line may climb far above the data: keep the
			// measured points and the curve readable.
			top := 0.0
			for _, y := range append(append([]float64{}, ys...), uy...) {
				top = max(top, y)
			}
			c.yMax = top * 1.3
		} else if sw.FitError != "" {
			c.note = "no USL fit: " + sw.FitError
		}
		if first != nil && first.N > 0 {
			// Linear scaling: the fit's λ per unit, or the first point's.
			per := first.OpsPerSec / float64(first.N)
			if f := sw.Fit; f != nil && f.Lambda > 0 {
				per = f.Lambda
			}
			end := maxN * 1.1
			if c.yMax > 0 && per > 0 {
				end = min(end, c.yMax/per)
			}
			c.lines = append(c.lines, line{name: "linear", class: "c6", dash: true, xs: []float64{0, end}, ys: []float64{0, per * end}})
		}
		out = append(out, c)
	}
	return out
}

// usl is the Universal Scalability Law's throughput at n.
func usl(f *USLReport, n float64) float64 {
	d := 1 + f.Sigma*(n-1) + f.Kappa*n*(n-1)
	if d <= 0 {
		return math.NaN()
	}
	return f.Lambda * n / d
}

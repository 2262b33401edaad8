package metrics

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ScalePoint is one step of a scalability sweep: N workers (clients, or
// nodes), X ops/s.
type ScalePoint struct {
	N          int
	OpsPerSec  float64
	Efficiency float64 // X(N) / (N · X(1)): 1 is linear
	// Empty marks a step that measured nothing (no op completed in it):
	// it is kept out of the efficiencies and the fit, not fitted as 0.
	Empty bool
	// CPU is the machine's CPU busy over the step's measured time,
	// percent of all cores; 0 when unknown.
	CPU float64
	// From and To are the step's measured time, for reading the CPU.
	From, To time.Time
}

// USL is a Universal Scalability Law fit, X(N) = λN / (1 + σ(N−1) + κN(N−1)):
// σ is contention, κ coherency (crosstalk), λ the single-worker rate.
type USL struct {
	Sigma, Kappa, Lambda float64
	R2                   float64 // of the fitted X against the measured one
	PeakN                float64 // the N of highest throughput; +Inf when κ ≤ 0
	PeakOpsPerSec        float64
}

// ErrTooFewPoints is returned by FitUSL for fewer than four points: three
// parameters from three points would always fit and say nothing.
var ErrTooFewPoints = errors.New("a USL fit needs at least 4 points")

// FitUSL fits the law by least squares on its linear form
// N/X = 1/λ + (σ/λ)(N−1) + (κ/λ)N(N−1).
func FitUSL(points []ScalePoint) (USL, error) {
	if len(points) < 4 {
		return USL{}, ErrTooFewPoints
	}
	// Normal equations for y = a + b·u + c·v.
	var m [3][4]float64
	for _, p := range points {
		if p.OpsPerSec <= 0 || p.N < 1 {
			return USL{}, errors.New("a USL fit needs positive throughput at every step")
		}
		n := float64(p.N)
		row := [3]float64{1, n - 1, n * (n - 1)}
		y := n / p.OpsPerSec
		for i := range 3 {
			for j := range 3 {
				m[i][j] += row[i] * row[j]
			}
			m[i][3] += row[i] * y
		}
	}
	coef, err := solve3(m)
	if err != nil {
		return USL{}, err
	}
	a, b, c := coef[0], coef[1], coef[2]
	if a <= 0 {
		return USL{}, errors.New("the measurements do not fit the USL (no positive single-worker rate)")
	}
	f := USL{Lambda: 1 / a, Sigma: b / a, Kappa: c / a}
	var mean, ssTot, ssRes float64
	for _, p := range points {
		mean += p.OpsPerSec
	}
	mean /= float64(len(points))
	for _, p := range points {
		d := p.OpsPerSec - f.At(float64(p.N))
		ssRes += d * d
		ssTot += (p.OpsPerSec - mean) * (p.OpsPerSec - mean)
	}
	f.R2 = 1
	if ssTot > 0 {
		f.R2 = 1 - ssRes/ssTot
	}
	f.PeakN = math.Inf(1)
	if f.Kappa > 0 && f.Sigma < 1 {
		f.PeakN = math.Sqrt((1 - f.Sigma) / f.Kappa)
		f.PeakOpsPerSec = f.At(f.PeakN)
	}
	return f, nil
}

// At is the fitted throughput with n workers.
func (f USL) At(n float64) float64 {
	return f.Lambda * n / (1 + f.Sigma*(n-1) + f.Kappa*n*(n-1))
}

// solve3 solves a 3×3 system given as an augmented matrix, by Gaussian
// elimination with partial pivoting.
func solve3(m [3][4]float64) ([3]float64, error) {
	for col := range 3 {
		piv := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[piv][col]) {
				piv = r
			}
		}
		if math.Abs(m[piv][col]) < 1e-300 {
			return [3]float64{}, errors.New("the sweep's steps are too alike to fit the USL")
		}
		m[col], m[piv] = m[piv], m[col]
		for r := range 3 {
			if r == col {
				continue
			}
			k := m[r][col] / m[col][col]
			for c := col; c < 4; c++ {
				m[r][c] -= k * m[col][c]
			}
		}
	}
	return [3]float64{m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]}, nil
}

// Efficiencies fills each point's efficiency against the first point
// that measured something: X(N) / ((N/N₀) · X(N₀)), which is X(N) / (N ·
// X(1)) for a sweep from one. Empty points keep 0.
func Efficiencies(points []ScalePoint) {
	base := -1
	for i, p := range points {
		if !p.Empty && p.OpsPerSec > 0 {
			base = i
			break
		}
	}
	if base < 0 {
		return
	}
	x1 := points[base].OpsPerSec / float64(points[base].N)
	for i := range points {
		if !points[i].Empty {
			points[i].Efficiency = points[i].OpsPerSec / (float64(points[i].N) * x1)
		}
	}
}

// measured is the points that measured something.
func measured(points []ScalePoint) []ScalePoint {
	var out []ScalePoint
	for _, p := range points {
		if !p.Empty {
			out = append(out, p)
		}
	}
	return out
}

// The kinds of sweep.
const (
	SweepClients = "clients" // vertical: more clients on the same cluster
	SweepNodes   = "nodes"   // horizontal: more nodes (and shards), the load per node constant
)

// Sweep is one scalability sweep: its points with their efficiency, the
// USL fit (or why there is none), and what bound it, in words.
type Sweep struct {
	Kind     string
	Points   []ScalePoint
	Fit      *USL
	FitError string
	// Bound says in words whether the machine's cores limited the sweep:
	// "limited by the machine: 2 cores, CPU 97–100% from 2 nodes on".
	Bound string
}

// machineBusy is the CPU percent from which a step counts as limited by
// the machine's cores.
const machineBusy = 90

// NewSweep computes the points' efficiencies, fits the USL to the points
// that measured something, and says whether cores bounded the sweep.
func NewSweep(kind string, points []ScalePoint, cores int) Sweep {
	s := Sweep{Kind: kind, Points: points}
	Efficiencies(s.Points)
	m := measured(s.Points)
	if f, err := FitUSL(m); err != nil {
		s.FitError = err.Error()
		if n := len(s.Points) - len(m); n > 0 {
			s.FitError += fmt.Sprintf(" (%d of %d steps measured nothing)", n, len(s.Points))
		}
	} else {
		s.Fit = &f
	}
	s.Bound = bound(kind, m, cores)
	return s
}

// bound says whether the machine's cores limited the sweep: from the first
// step on which every later step keeps the CPU at machineBusy% or more.
func bound(kind string, points []ScalePoint, cores int) string {
	from, peak, lo, hi := -1, 0.0, 101.0, 0.0
	for i, p := range points {
		if p.CPU <= 0 {
			return "" // unknown
		}
		peak = max(peak, p.CPU)
		if p.CPU >= machineBusy {
			if from < 0 {
				from, lo, hi = i, 101, 0
			}
			lo, hi = min(lo, p.CPU), max(hi, p.CPU)
		} else {
			from = -1
		}
	}
	if len(points) == 0 {
		return ""
	}
	if from < 0 {
		return fmt.Sprintf("not limited by the machine: %s, CPU at most %.0f%%", coresText(cores), peak)
	}
	return fmt.Sprintf("limited by the machine: %s, CPU %.0f–%.0f%% from %d %s on", coresText(cores), lo, hi, points[from].N, kind)
}

func coresText(n int) string {
	if n == 1 {
		return "1 core"
	}
	return fmt.Sprintf("%d cores", n)
}

// Scalability is the scalability suite's result: every sweep, and the
// clients sweep's points, fit and fit error again in Points, Fit and
// FitError, where readers from before the node sweep look for them.
type Scalability struct {
	Suite    string
	Points   []ScalePoint
	Fit      *USL
	FitError string
	Sweeps   []Sweep
	Cores    int // the machine's cores (runtime.NumCPU)
}

// NewScalability computes a clients sweep's efficiencies and fits the USL.
func NewScalability(suite string, points []ScalePoint) *Scalability {
	return NewScalabilitySweeps(suite, []Sweep{{Kind: SweepClients, Points: points}}, 0)
}

// NewScalabilitySweeps fits each sweep (given with its kind and points)
// on a machine of cores.
func NewScalabilitySweeps(suite string, sweeps []Sweep, cores int) *Scalability {
	s := &Scalability{Suite: suite, Cores: cores}
	for _, sw := range sweeps {
		sw = NewSweep(sw.Kind, sw.Points, cores)
		s.Sweeps = append(s.Sweeps, sw)
		if sw.Kind == SweepClients && s.Points == nil {
			s.Points, s.Fit, s.FitError = sw.Points, sw.Fit, sw.FitError
		}
	}
	return s
}

// Verdict judges the efficiency at the sweep's largest step against min.
func (s *Scalability) Verdict(min float64) (Verdict, bool) {
	m := measured(s.Points)
	if min <= 0 || len(m) < 2 {
		return Verdict{}, false
	}
	last := m[len(m)-1]
	return Verdict{Suite: s.Suite, Metric: MetricEfficiency, Limit: min, Value: last.Efficiency, Unit: "of linear", Pass: last.Efficiency >= min}, true
}

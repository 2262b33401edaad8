package metrics

import (
	"errors"
	"math"
)

// ScalePoint is one step of a scalability sweep: N workers, X ops/s.
type ScalePoint struct {
	N          int
	OpsPerSec  float64
	Efficiency float64 // X(N) / (N · X(1)): 1 is linear
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

// Efficiencies fills each point's efficiency against the first (N=1) point.
func Efficiencies(points []ScalePoint) {
	if len(points) == 0 || points[0].OpsPerSec <= 0 {
		return
	}
	x1 := points[0].OpsPerSec / float64(points[0].N)
	for i := range points {
		points[i].Efficiency = points[i].OpsPerSec / (float64(points[i].N) * x1)
	}
}

// Scalability is a sweep's result: its points with their efficiency, and
// the USL fit, or why there is none.
type Scalability struct {
	Suite    string
	Points   []ScalePoint
	Fit      *USL
	FitError string
}

// NewScalability computes the points' efficiencies and fits the USL.
func NewScalability(suite string, points []ScalePoint) *Scalability {
	s := &Scalability{Suite: suite, Points: points}
	Efficiencies(s.Points)
	if f, err := FitUSL(s.Points); err != nil {
		s.FitError = err.Error()
	} else {
		s.Fit = &f
	}
	return s
}

// Verdict judges the efficiency at the sweep's largest step against min.
func (s *Scalability) Verdict(min float64) (Verdict, bool) {
	if min <= 0 || len(s.Points) < 2 {
		return Verdict{}, false
	}
	last := s.Points[len(s.Points)-1]
	return Verdict{Suite: s.Suite, Metric: MetricEfficiency, Limit: min, Value: last.Efficiency, Unit: "of linear", Pass: last.Efficiency >= min}, true
}

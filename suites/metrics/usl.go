package metrics

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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

	// The node sweep's steps also carry what the machine's CPU alone does
	// not say when the nodes are processes.

	// Replicas is how many replicas each shard had at the step: fewer
	// than the full three on a 1- or 2-node cluster; 0 when not recorded.
	Replicas int
	// Fresh marks a step run on a fresh cluster beside the run's own,
	// which sat idle meanwhile.
	Fresh bool
	// NodesCPU is what the step's node processes used over its measured
	// time, in CPUs summed over them; 0 when unknown (embedded nodes).
	NodesCPU float64
	// IdleCPU is what the run's own node processes used while they sat
	// idle beside a fresh step's cluster, in CPUs; 0 when unknown or not
	// a fresh step.
	IdleCPU float64
	// BoundBy is what bound the step, when the nodes had CPU quotas:
	// BoundQuotas, BoundMachine or BoundClients; "" when unknown.
	BoundBy string
}

// What bound a node step whose nodes had CPU quotas.
const (
	// BoundQuotas: the step's nodes used their quotas (at least
	// quotaFull of them): the step measured the resources it was given.
	BoundQuotas = "quotas"
	// BoundMachine: the nodes stayed below their quotas and the machine's
	// cores were busy (machineBusy): the machine, not the quotas, set the
	// step's throughput.
	BoundMachine = "machine"
	// BoundClients: neither: too few clients kept the nodes busy (a
	// closed loop waits for each op before the next).
	BoundClients = "clients"
)

// quotaFull is the share of their quotas, percent, from which a step's
// nodes count as using them: a quota is spent in bursts each period, and
// the last of a period is often left for want of a runnable thread.
const quotaFull = 85

// QuotaUse is the percent of their quotas the step's nodes used; 0 when
// unknown.
func (p ScalePoint) QuotaUse(quota float64) float64 {
	if quota <= 0 || p.NodesCPU <= 0 || p.N < 1 {
		return 0
	}
	return 100 * p.NodesCPU / (float64(p.N) * quota)
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
	if f.R2 < 0 {
		// Worse than a flat line through the steps' mean: whatever its
		// σ and κ say, they describe no machine. A step disturbed by
		// something else (a collection at the memory limit, say) does
		// this, and a fit shown as one would be read as a finding.
		return USL{}, fmt.Errorf("the steps do not follow the USL (R² %.2f: the fit is further from them than their mean)", f.R2)
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
	// "limited by the machine: 2 cores, CPU 97–100% from 2 nodes on";
	// with quotas, what bound each step too.
	Bound string
	// NodeCPUs is each node process's CPU quota in the node sweep, in
	// CPUs; 0 for none.
	NodeCPUs float64
	// ClientsPerNode is the node sweep's offered load per node: the same
	// at every step, so each node batches alike; 0 when not recorded.
	ClientsPerNode int
	// Notes say what the figures alone would hide: steps that replicate
	// less than the others, the idle cluster beside the fresh ones.
	Notes []string
}

// machineBusy is the CPU percent from which a step counts as limited by
// the machine's cores.
const machineBusy = 90

// NewSweep computes the points' efficiencies, fits the USL to the points
// that measured something, and says whether cores bounded the sweep.
func NewSweep(kind string, points []ScalePoint, cores int) Sweep {
	return Sweep{Kind: kind, Points: points}.computed(cores)
}

// computed is s with its efficiencies, fit, bound and notes worked out
// from its points, on a machine of cores; s.NodeCPUs is the nodes' quota.
func (s Sweep) computed(cores int) Sweep {
	kind := s.Kind
	s.Notes = nil
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
	if s.NodeCPUs > 0 {
		for i := range s.Points {
			s.Points[i].BoundBy = boundBy(s.Points[i], s.NodeCPUs)
		}
		// Step by step, which says more than the machine's sentence
		// (and would read as contradicting it when a later step eased).
		if q := quotaBound(m, s.NodeCPUs); q != "" {
			lo, hi := 101.0, 0.0
			for _, p := range m {
				if p.CPU > 0 {
					lo, hi = min(lo, p.CPU), max(hi, p.CPU)
				}
			}
			cpu := "CPU unknown"
			if hi > 0 {
				cpu = fmt.Sprintf("CPU %.0f–%.0f%% over the steps", lo, hi)
			}
			s.Bound = fmt.Sprintf("on %s, %s: %s", coresText(cores), cpu, q)
		}
	}
	if s.Fit != nil && s.NodeCPUs > 0 {
		var off []string
		for _, p := range s.Points {
			if !p.Empty && p.BoundBy != "" && p.BoundBy != BoundQuotas {
				off = append(off, strconv.Itoa(p.N))
			}
		}
		if len(off) > 0 {
			nodes := "nodes"
			if len(off) == 1 && off[0] == "1" {
				nodes = "node"
			}
			s.Notes = append(s.Notes, fmt.Sprintf("the fit spans steps the quotas did not bound (%s %s): there it describes what bound them, not how the nodes scale", strings.Join(off, ", "), nodes))
		}
	}
	s.Notes = append(s.Notes, replicaNote(m)...)
	s.Notes = append(s.Notes, idleNote(m, cores)...)
	return s
}

// boundBy is what bound step p of nodes under quota CPUs each; "" when
// the nodes' CPU is unknown.
func boundBy(p ScalePoint, quota float64) string {
	switch u := p.QuotaUse(quota); {
	case p.Empty || u <= 0:
		return ""
	case u >= quotaFull:
		return BoundQuotas
	case p.CPU >= machineBusy:
		return BoundMachine
	default:
		return BoundClients
	}
}

// quotaBound says, step by step, whether the nodes used the quotas they
// were given, and when not what held them back: "quotas used at 1–2
// nodes (93–97%); from 4 nodes on bound by the machine's cores (nodes at
// 71%, 44% of their quotas)".
func quotaBound(points []ScalePoint, quota float64) string {
	var parts []string
	for i := 0; i < len(points); {
		by := boundBy(points[i], quota)
		j := i
		var uses []string
		for ; j < len(points) && boundBy(points[j], quota) == by; j++ {
			uses = append(uses, fmt.Sprintf("%.0f%%", points[j].QuotaUse(quota)))
		}
		span := fmt.Sprintf("%d nodes", points[i].N)
		if points[i].N == 1 {
			span = "1 node"
		}
		if j-i > 1 {
			span = fmt.Sprintf("%d–%d nodes", points[i].N, points[j-1].N)
		}
		switch by {
		case BoundQuotas:
			parts = append(parts, fmt.Sprintf("at %s the nodes used their %v-CPU quotas (%s of them)", span, quota, strings.Join(uses, ", ")))
		case BoundMachine:
			idle := 0.0
			for _, p := range points[i:j] {
				idle = max(idle, p.IdleCPU)
			}
			beside := ""
			if idle > 0 {
				beside = fmt.Sprintf(", the run's idle nodes taking up to %.2f CPUs beside them", idle)
			}
			parts = append(parts, fmt.Sprintf("at %s the machine's cores bound the nodes below their quotas (%s of them%s)", span, strings.Join(uses, ", "), beside))
		case BoundClients:
			parts = append(parts, fmt.Sprintf("at %s too few clients kept the nodes below their quotas (%s of them) with cores to spare", span, strings.Join(uses, ", ")))
		default:
			parts = append(parts, fmt.Sprintf("at %s the nodes' CPU is unknown", span))
		}
		i = j
	}
	return strings.Join(parts, "; ")
}

// replicaNote says which steps replicate each shard less than the others
// do, and what that does to their efficiency.
func replicaNote(points []ScalePoint) []string {
	full := 0
	for _, p := range points {
		full = max(full, p.Replicas)
	}
	var fewer []string
	for _, p := range points {
		if p.Replicas > 0 && p.Replicas < full {
			fewer = append(fewer, fmt.Sprintf("%d %s %s", p.N, map[bool]string{true: "node", false: "nodes"}[p.N == 1], pluralTimes(p.Replicas, p.N == 1)))
		}
	}
	if len(fewer) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("fewer replicas: %s each shard, the other steps %s: each put is written on that many nodes, so against the first step the efficiency counts the cost of replicating as well as that of scaling",
		strings.Join(fewer, ", "), pluralTimes(full, false))}
}

// pluralTimes is "replicates once", "replicate 3 times": one's verb
// agrees with a single node.
func pluralTimes(n int, one bool) string {
	verb := "replicate"
	if one {
		verb = "replicates"
	}
	if n == 1 {
		return verb + " once"
	}
	return fmt.Sprintf("%s %d times", verb, n)
}

// idleNote says what the run's own node processes used while they sat
// idle beside the fresh steps' clusters.
func idleNote(points []ScalePoint, cores int) []string {
	lo, hi, n := math.Inf(1), 0.0, 0
	for _, p := range points {
		if p.Fresh && p.IdleCPU > 0 {
			lo, hi, n = min(lo, p.IdleCPU), max(hi, p.IdleCPU), n+1
		}
	}
	if n == 0 {
		return nil
	}
	share := ""
	if cores > 0 {
		share = fmt.Sprintf(", at most %.1f%% of the machine's %s", 100*hi/float64(cores), coresText(cores))
	}
	return []string{fmt.Sprintf("the run's own node processes sat idle beside the fresh clusters' steps and used %.3f–%.3f CPUs between them%s", lo, hi, share)}
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
	unit := kind
	if points[from].N == 1 {
		unit = strings.TrimSuffix(kind, "s")
	}
	return fmt.Sprintf("limited by the machine: %s, CPU %.0f–%.0f%% from %d %s on", coresText(cores), lo, hi, points[from].N, unit)
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

// NewScalabilitySweeps fits each sweep (given with its kind, points and
// the nodes' quota) on a machine of cores.
func NewScalabilitySweeps(suite string, sweeps []Sweep, cores int) *Scalability {
	s := &Scalability{Suite: suite, Cores: cores}
	for _, sw := range sweeps {
		sw = sw.computed(cores)
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

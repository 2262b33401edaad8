package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestFitUSLRecoversItsParameters(t *testing.T) {
	for _, want := range []USL{
		{Sigma: 0.05, Kappa: 0.001, Lambda: 1000},
		{Sigma: 0.2, Kappa: 0.02, Lambda: 50},
		{Sigma: 0.01, Kappa: 0.0001, Lambda: 20000},
	} {
		var pts []ScalePoint
		for _, n := range []int{1, 2, 4, 8, 16, 32} {
			pts = append(pts, ScalePoint{N: n, OpsPerSec: want.At(float64(n))})
		}
		got, err := FitUSL(pts)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"σ", got.Sigma, want.Sigma}, {"κ", got.Kappa, want.Kappa}, {"λ", got.Lambda, want.Lambda}} {
			if math.Abs(c.got-c.want)/c.want > 0.05 {
				t.Errorf("%s = %g, want %g within 5%%", c.name, c.got, c.want)
			}
		}
		if got.R2 < 0.999 {
			t.Errorf("R² %.4f on exact data", got.R2)
		}
		if peak := math.Sqrt((1 - want.Sigma) / want.Kappa); math.Abs(got.PeakN-peak)/peak > 0.05 {
			t.Errorf("peak N %.1f, want %.1f", got.PeakN, peak)
		}
	}
}

// The full seed run's clients sweep at 1 MB values, a run where the
// first step met a cluster still busy after the suite before: its least
// squares fit had R² −23 and σ 3.65, and was shown as a fit.
func TestFitUSLRefusesAFitWorseThanTheMean(t *testing.T) {
	pts := []ScalePoint{{N: 1, OpsPerSec: 735}, {N: 2, OpsPerSec: 920}, {N: 4, OpsPerSec: 925},
		{N: 8, OpsPerSec: 761}, {N: 16, OpsPerSec: 570}, {N: 20, OpsPerSec: 639}}
	f, err := FitUSL(pts)
	if err == nil || !strings.Contains(err.Error(), "do not follow the USL") {
		t.Errorf("fit %+v, err %v; want it refused", f, err)
	}
}

func TestFitUSLRefusesTooFewPoints(t *testing.T) {
	_, err := FitUSL([]ScalePoint{{N: 1, OpsPerSec: 1}, {N: 2, OpsPerSec: 2}, {N: 4, OpsPerSec: 3}})
	if !errors.Is(err, ErrTooFewPoints) {
		t.Errorf("err = %v, want ErrTooFewPoints", err)
	}
}

func TestEfficiencies(t *testing.T) {
	pts := []ScalePoint{{N: 1, OpsPerSec: 100}, {N: 2, OpsPerSec: 200}, {N: 4, OpsPerSec: 300}}
	Efficiencies(pts)
	if pts[1].Efficiency != 1 || pts[2].Efficiency != 0.75 {
		t.Errorf("efficiencies %+v, want 1 and 0.75", pts)
	}
}

// A step that measured nothing stays out of the efficiencies and the fit;
// a sweep whose CPU stays high from some step on says the machine bound it.
func TestSweepKeepsEmptyStepsOutAndSaysWhatBoundIt(t *testing.T) {
	pts := []ScalePoint{{N: 1, OpsPerSec: 100, CPU: 60}, {N: 2, OpsPerSec: 180, CPU: 97}, {N: 4, OpsPerSec: 0, Empty: true},
		{N: 8, OpsPerSec: 300, CPU: 100}, {N: 16, OpsPerSec: 310, CPU: 99}}
	s := NewSweep(SweepNodes, pts, 2)
	if s.Fit == nil {
		t.Fatalf("no fit from 4 measured steps: %s", s.FitError)
	}
	if s.Points[2].Efficiency != 0 || s.Points[3].Efficiency != 300.0/800 {
		t.Errorf("efficiencies %+v", s.Points)
	}
	if want := "limited by the machine: 2 cores, CPU 97–100% from 2 nodes on"; s.Bound != want {
		t.Errorf("bound %q, want %q", s.Bound, want)
	}
	cool := NewSweep(SweepClients, []ScalePoint{{N: 1, OpsPerSec: 1, CPU: 20}, {N: 2, OpsPerSec: 2, CPU: 95}, {N: 4, OpsPerSec: 4, CPU: 40}}, 8)
	if want := "not limited by the machine: 8 cores, CPU at most 95%"; cool.Bound != want {
		t.Errorf("bound %q, want %q", cool.Bound, want)
	}
	short := NewSweep(SweepClients, []ScalePoint{{N: 1, OpsPerSec: 1}, {N: 2, Empty: true}, {N: 4, OpsPerSec: 3}, {N: 8, OpsPerSec: 4}}, 2)
	if short.Fit != nil || !strings.Contains(short.FitError, "1 of 4 steps measured nothing") {
		t.Errorf("fit %+v / %q, want none and the empty step named", short.Fit, short.FitError)
	}
}

// A node sweep under quotas names what bound each step from what its nodes
// used of their quotas and how busy the machine was, notes the steps that
// replicate less and the idle cluster's CPU, and every writer shows them.
func TestNodeSweepUnderQuotasSaysWhatBoundEachStep(t *testing.T) {
	pts := []ScalePoint{
		{N: 1, OpsPerSec: 3000, CPU: 30, NodesCPU: 0.19, Replicas: 1, Fresh: true, IdleCPU: 0.04},
		{N: 2, OpsPerSec: 4000, CPU: 55, NodesCPU: 0.37, Replicas: 2, Fresh: true, IdleCPU: 0.05},
		{N: 4, OpsPerSec: 5000, CPU: 97, NodesCPU: 0.50, Replicas: 3, Fresh: true, IdleCPU: 0.06},
		{N: 8, OpsPerSec: 5200, CPU: 60, NodesCPU: 0.40, Replicas: 3},
	}
	s := Sweep{Kind: SweepNodes, Points: pts, NodeCPUs: 0.2, ClientsPerNode: 64}.computed(2)
	var by []string
	for _, p := range s.Points {
		by = append(by, p.BoundBy)
	}
	if want := []string{BoundQuotas, BoundQuotas, BoundMachine, BoundClients}; strings.Join(by, ",") != strings.Join(want, ",") {
		t.Errorf("bound by %v, want %v", by, want)
	}
	for _, want := range []string{"at 1–2 nodes the nodes used their 0.2-CPU quotas (95%, 92% of them)",
		"on 2 cores, CPU 30–97% over the steps: ",
		"at 4 nodes the machine's cores bound the nodes below their quotas (62% of them, the run's idle nodes taking up to 0.06 CPUs beside them)",
		"at 8 nodes too few clients kept the nodes below their quotas (25% of them)"} {
		if !strings.Contains(s.Bound, want) {
			t.Errorf("bound %q lacks %q", s.Bound, want)
		}
	}
	notes := strings.Join(s.Notes, "\n")
	for _, want := range []string{"1 node replicates once, 2 nodes replicate 2 times each shard, the other steps replicate 3 times",
		"used 0.040–0.060 CPUs between them, at most 3.0% of the machine's 2 cores",
		"the fit spans steps the quotas did not bound (4, 8 nodes)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
	if s.Fit == nil || s.Points[3].Efficiency != 5200.0/(8*3000) {
		t.Errorf("fit %v (%s), efficiencies %+v: want a fit and efficiency against the 1-node step", s.Fit, s.FitError, s.Points)
	}

	// Without quotas or replicas recorded nothing of this is said.
	plain := NewSweep(SweepNodes, []ScalePoint{{N: 3, OpsPerSec: 1, CPU: 50}, {N: 6, OpsPerSec: 2, CPU: 60}}, 2)
	if len(plain.Notes) != 0 || strings.Contains(plain.Bound, "quota") || plain.Points[0].BoundBy != "" {
		t.Errorf("a sweep without quotas says %q, notes %q", plain.Bound, plain.Notes)
	}

	r := &Report{Scalability: &ScalabilityReport{Sweeps: []SweepReport{{Kind: s.Kind, Points: pointReports(s.Points, s.NodeCPUs), Fit: uslReport(s.Fit),
		Bound: s.Bound, NodeCPUs: s.NodeCPUs, ClientsPerNode: s.ClientsPerNode, Notes: s.Notes}}}}
	var md, sum bytes.Buffer
	mdScalability(func(format string, a ...any) { fmt.Fprintf(&md, format, a...) }, r)
	if err := WriteSummary(&sum, r); err != nil {
		t.Fatal(err)
	}
	page := string(renderHTML(t, r))
	for name, out := range map[string]string{"markdown": md.String(), "summary": sum.String(), "html": page} {
		for _, want := range []string{"0.2 CPUs", "64 clients per node", "replicates once", "machine", "clients", "0.040"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
	if !strings.Contains(md.String(), "| 1 | 1 | 3,000 | 1.00 | 30% | 0.19 (95% of quota) | 15,789 | 0.040 | quotas |") {
		t.Errorf("markdown's 1-node row is not as expected:\n%s", md.String())
	}
	if !strings.Contains(sum.String(), "1→3,000 ops/s (1.00, 1 replica, quotas)") {
		t.Errorf("summary's 1-node step is not as expected:\n%s", sum.String())
	}
}

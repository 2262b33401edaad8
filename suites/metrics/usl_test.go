package metrics

import (
	"errors"
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

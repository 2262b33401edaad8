package metrics

import (
	"errors"
	"math"
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

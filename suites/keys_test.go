package suites

import (
	"math"
	"testing"
)

func TestKeyDistributionsMatchTheirLaws(t *testing.T) {
	const n, samples = 1000, 400_000
	count := func(d KeyDist) []int {
		p := newKeyPicker(d, n, 7)
		c := make([]int, n)
		for range samples {
			k := p.next()
			if k < 0 || k >= n {
				t.Fatalf("%s drew key %d outside [0, %d)", d.Name, k, n)
			}
			c[k]++
		}
		return c
	}
	t.Run("uniform", func(t *testing.T) {
		c := count(KeyDist{Name: DistUniform})
		// Chi-square with 999 degrees of freedom: mean 999, sd about 45.
		var chi float64
		e := float64(samples) / n
		for _, o := range c {
			chi += (float64(o) - e) * (float64(o) - e) / e
		}
		if chi > 999+5*45 {
			t.Errorf("chi-square %.0f: not uniform", chi)
		}
	})
	t.Run("zipfian", func(t *testing.T) {
		const s = 1.2
		c := count(KeyDist{Name: DistZipfian, ZipfS: s})
		// P(k) ∝ (1+k)^-s, so P(0)/P(k) = (1+k)^s.
		for _, k := range []int{1, 3, 9} {
			got, want := float64(c[0])/float64(c[k]), math.Pow(float64(1+k), s)
			if math.Abs(got-want)/want > 0.05 {
				t.Errorf("P(0)/P(%d) = %.3f, want %.3f within 5%%", k, got, want)
			}
		}
	})
	t.Run("hotspot", func(t *testing.T) {
		c := count(KeyDist{Name: DistHotspot, HotFraction: 0.1, HotOpsFraction: 0.9})
		hot := 0
		for _, o := range c[:100] {
			hot += o
		}
		if f := float64(hot) / samples; math.Abs(f-0.9) > 0.005 {
			t.Errorf("%.4f of the ops on the hot 10%% of keys, want 0.9", f)
		}
	})
}

func TestKeyDistValidate(t *testing.T) {
	for _, d := range []KeyDist{{Name: "pareto"}, {Name: DistZipfian, ZipfS: 1}, {Name: DistHotspot, HotFraction: 0, HotOpsFraction: 0.5}} {
		if d.validate() == nil {
			t.Errorf("%+v accepted", d)
		}
	}
}

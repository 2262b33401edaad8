package suites

import (
	"fmt"
	mathrand "math/rand"
	"math/rand/v2"
)

// Key distributions a workload draws its keys from.
const (
	DistUniform = "uniform" // every key equally likely
	DistZipfian = "zipfian" // key k with probability ∝ 1/(1+k)^s: a few very hot keys
	DistHotspot = "hotspot" // a fraction of the ops on a fraction of the keys
)

// KeyDist chooses a key distribution and its parameters.
type KeyDist struct {
	Name string
	// ZipfS is the zipfian skew s, above 1; larger is more skewed.
	ZipfS float64
	// HotFraction of the keys take HotOpsFraction of the ops (hotspot).
	HotFraction, HotOpsFraction float64
}

func (d KeyDist) validate() error {
	switch d.Name {
	case "", DistUniform:
	case DistZipfian:
		if !(d.ZipfS > 1 && d.ZipfS <= 5) {
			return fmt.Errorf("zipfian skew must be above 1 and at most 5, got %g", d.ZipfS)
		}
	case DistHotspot:
		if !(d.HotFraction > 0 && d.HotFraction <= 1) || !(d.HotOpsFraction > 0 && d.HotOpsFraction <= 1) {
			return fmt.Errorf("hotspot fractions must be in (0, 1], got %g of the keys for %g of the ops", d.HotFraction, d.HotOpsFraction)
		}
	default:
		return fmt.Errorf("unknown key distribution %q; use uniform, zipfian or hotspot", d.Name)
	}
	return nil
}

// keyPicker draws key indexes in [0, n) from a distribution. Each client
// owns one: it is not safe for concurrent use.
type keyPicker struct {
	n    int
	rng  *rand.Rand
	zipf *mathrand.Zipf // zipfian only
	hot  int            // hotspot only: keys [0, hot) are hot
	frac float64
}

func newKeyPicker(d KeyDist, n int, seed uint64) *keyPicker {
	p := &keyPicker{n: n, rng: rand.New(rand.NewPCG(seed, 0x6b657973))}
	switch d.Name {
	case DistZipfian:
		// math/rand/v2 has no zipfian generator; the v1 one is exact.
		p.zipf = mathrand.NewZipf(mathrand.New(mathrand.NewSource(int64(seed))), d.ZipfS, 1, uint64(n-1))
	case DistHotspot:
		p.hot = max(1, min(n, int(float64(n)*d.HotFraction)))
		p.frac = d.HotOpsFraction
	}
	return p
}

// next returns the next key index.
func (p *keyPicker) next() int {
	switch {
	case p.zipf != nil:
		return int(p.zipf.Uint64())
	case p.hot > 0:
		if p.hot == p.n || p.rng.Float64() < p.frac {
			return p.rng.IntN(p.hot)
		}
		return p.hot + p.rng.IntN(p.n-p.hot)
	}
	return p.rng.IntN(p.n)
}

package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// scanKeys is what f.scan(prefix, from, to) calls back with, sorted.
func scanKeys(t testing.TB, f *fsm, prefix, from, to string) []string {
	t.Helper()
	var out []string
	if _, err := f.scan(prefix, from, to, func(k string, _ []byte) error { out = append(out, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// bruteKeys is the same, read off the map itself.
func bruteKeys(f *fsm, prefix, from, to string) []string {
	var out []string
	for k := range f.data {
		if strings.HasPrefix(k, prefix) && k >= from && (to == "" || k < to) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Scans under a prefix find exactly the keys a walk of the whole map does,
// through random writes and deletes before and after the index exists, a
// Restore that drops it, and more prefixes than are indexed.
func TestPrefixIndexScansWhatTheMapHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := newFSM()
	prefixes := []string{"row/q/", "row/", "k/", "a/", "b/", "c/", "row/q/1"}
	write := func(n int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for range n {
			p := prefixes[rng.IntN(len(prefixes))]
			k := fmt.Sprintf("%s%d", p, rng.IntN(50))
			if rng.IntN(4) == 0 {
				f.del(k)
			} else {
				// A key aliasing a buffer the caller reuses, as keyOf's do.
				buf := []byte(k)
				f.set(keyOf(buf), []byte("v"))
			}
		}
	}
	check := func(when string) {
		// Each index holds the keys under its prefix and no other: a
		// deleted key left in it would cost every scan and never go.
		for _, ix := range f.idx {
			if want := len(bruteKeys(f, ix.prefix, "", "")); len(ix.keys) != want {
				t.Fatalf("%s: the index of %q holds %d keys, the map %d", when, ix.prefix, len(ix.keys), want)
			}
		}
		for _, p := range prefixes {
			for _, r := range [][2]string{{"", ""}, {p + "1", p + "3"}, {p + "2", ""}} {
				got, want := scanKeys(t, f, p, r[0], r[1]), bruteKeys(f, p, r[0], r[1])
				if !slices.Equal(got, want) {
					t.Fatalf("%s: scan %q [%q, %q) found %d keys, the map holds %d: %v vs %v", when, p, r[0], r[1], len(got), len(want), got, want)
				}
			}
		}
	}
	write(500)
	check("before any index")
	if len(f.idx) != maxPrefixIndexes {
		t.Errorf("%d prefixes indexed after scans under %d, want %d", len(f.idx), len(prefixes), maxPrefixIndexes)
	}
	for i := range 20 {
		write(200)
		check(fmt.Sprintf("round %d of writes", i))
	}
	// A restore replaces the whole state, and the indexes of the old one
	// with it.
	g := newFSM()
	g.mu.Lock()
	g.set("row/q/stale", []byte("gone"))
	g.mu.Unlock()
	if keys := scanKeys(t, g, "row/q/", "", ""); len(keys) != 1 {
		t.Fatalf("scan of one row found %v", keys)
	}
	var sink memSink
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(nopCloser{&sink.Buffer}); err != nil {
		t.Fatal(err)
	}
	f = g
	check("after a restore")
	write(300)
	check("after writes on the restored state")
}

// BenchmarkScanAmongOtherKeys scans the query suite's 300 rows in a shard
// that also holds 10,000 keys of other suites.
func BenchmarkScanAmongOtherKeys(b *testing.B) {
	f := newFSM()
	f.mu.Lock()
	for i := range 10_000 {
		f.set(fmt.Sprintf("k/%d", i), []byte("v"))
	}
	for i := range 300 {
		f.set(fmt.Sprintf("row/q/%d", i), []byte("r"))
	}
	f.mu.Unlock()
	b.ResetTimer()
	for range b.N {
		n := 0
		if _, err := f.scan("row/q/", "", "", func(string, []byte) error { n++; return nil }); err != nil || n != 300 {
			b.Fatalf("scanned %d rows, %v", n, err)
		}
	}
}

package suites

import (
	"os"
	"runtime/debug"
	"testing"
	"time"
)

// TestGCPercentKeepsTheHeapInItsShare checks the pacing rule: collect less
// often while the heap's growth fits in gcHeapShare of the budget, never
// more often than GOGC=100, and never let the goal pass that share unless
// GOGC=100 itself would.
func TestGCPercentKeepsTheHeapInItsShare(t *testing.T) {
	const budget = 4 << 30
	for _, tc := range []struct {
		live int64
		want int
	}{
		{0, gcMaxPercent},
		{64 << 20, gcMaxPercent}, // a small heap: as seldom as allowed
		{1 << 30, 140},           // 0.6×4 GiB = 2.4 GiB: the heap may grow 1.4 GiB more
		{1288490188, 100},        // at half the share, back to the default
		{3 << 30, 100},           // past it: the memory limit rules
		{budget * 2, 100},        // however far past
	} {
		if got := gcPercentFor(tc.live, budget); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB of live heap, 4 GiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
	if got := gcPercentFor(1<<20, 0); got != 100 {
		t.Errorf("without a budget GOGC = %d, want 100", got)
	}
	b := int64(budget)
	share := int64(gcHeapShare * float64(b))
	prev := gcMaxPercent
	for live := int64(1 << 20); live <= budget; live += 7 << 20 {
		p := gcPercentFor(live, budget)
		if p > prev {
			t.Fatalf("GOGC rose from %d to %d as the live heap grew to %d MiB", prev, p, live>>20)
		}
		prev = p
		goal := live + live*int64(p)/100
		if goal > max(share, 2*live)+live/100 {
			t.Fatalf("at %d MiB live, GOGC %d lets the heap reach %d MiB, past %d MiB", live>>20, p, goal>>20, max(share, 2*live)>>20)
		}
	}
}

// TestGCPacerSetsAndRestores checks that a run's pacer changes GOGC while
// it lasts and puts the previous value back, and that a GOGC the user set
// in the environment is left alone.
func TestGCPacerSetsAndRestores(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the environment: the pacer leaves it alone")
	}
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	stop := startGCPacer(64<<30, 10*time.Millisecond) // a budget far above this test's heap
	if got := debug.SetGCPercent(-1); got != gcMaxPercent {
		t.Errorf("GOGC during a run with room to spare = %d, want %d", got, gcMaxPercent)
	}
	debug.SetGCPercent(gcMaxPercent)
	stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after the run = %d, want the 100 it was before", got)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	stop = startGCPacer(64<<30, 10*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	got := debug.SetGCPercent(150)
	stop()
	if got != 150 {
		t.Errorf("GOGC=150 from the environment became %d during the run", got)
	}
}

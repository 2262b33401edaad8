package suites

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
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

// TestGCPacerFollowsEachCollection checks that the pace follows the live
// heap after every collection, both ways, and that stopping puts the
// previous GOGC back. A GOGC the user set in the environment is left
// alone.
func TestGCPacerFollowsEachCollection(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the environment: the pacer leaves it alone")
	}
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	// The budget is sized from what the process holds already (other
	// tests' leftovers): at the start the live heap is small against it,
	// and holding hold more makes it a quarter of it.
	runtime.GC()
	live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(live)
	held0 := int64(live[0].Value.Uint64())
	hold := max(128<<20, 2*held0)
	budget := 4 * (held0 + hold)
	p := newGCPacer(budget)
	defer p.stop()
	if newGCPacer(budget) != nil {
		t.Fatal("a second pacer started while the first ran")
	}
	if got := p.percent(); got != gcMaxPercent {
		t.Errorf("GOGC at the start with a small live heap = %d, want %d", got, gcMaxPercent)
	}
	// Each phase holds live bytes and collects until the pace is what
	// that heap calls for: a quarter of the budget may grow to 0.6 of it,
	// 1.4 times more (GOGC 140); 8 MiB more, as much as the pacer ever
	// allows.
	for _, phase := range []struct {
		hold int64
		want func(int) bool
		what string
	}{
		{hold, func(p int) bool { return p >= 110 && p <= 170 }, "between 110 and 170"},
		{8 << 20, func(p int) bool { return p == gcMaxPercent }, "the most"},
	} {
		held := make([]byte, phase.hold)
		held[len(held)-1] = 1
		deadline := time.Now().Add(5 * time.Second)
		for !phase.want(p.percent()) && time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(5 * time.Millisecond) // the finalizer runs after the collection
		}
		if got := p.percent(); !phase.want(got) {
			t.Errorf("holding %d MiB more than the %d MiB before, of a %d MiB budget, GOGC = %d after a collection, want %s", phase.hold>>20, held0>>20, budget>>20, got, phase.what)
		}
		runtime.KeepAlive(held)
	}
	set := p.percent()
	p.stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after the run = %d, want the 100 it was before (the pacer had set %d)", got, set)
	}
	runtime.GC() // a finalizer left armed must not pace after the stop
	time.Sleep(5 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after a collection past the stop = %d, want 100", got)
	}

	second := newGCPacer(budget)
	if second == nil {
		t.Fatal("no pacer started after the first stopped")
	}
	second.stop()

	t.Setenv("GOGC", "150")
	if newGCPacer(budget) != nil {
		t.Error("the pacer started although GOGC is set in the environment")
	}
}

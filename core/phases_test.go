package core

import (
	"bytes"
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A put's phases are found in the leader's ring (apply timed, not all of
// raft's part lumped into replicate) and add up to at most its latency; a
// read's are its read index and apply wait; a transaction's decision has
// its entry's phases, within Decide.
func TestPhasesAddUpToTheCall(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	for i := range 20 {
		key := "k" + strconv.Itoa(i)
		var ph Phases
		start := time.Now()
		if err := c.PutTimed(ctx, key, []byte("v"), &ph); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if ph.Total() <= 0 || ph.Total() > took {
			t.Errorf("put %d: phases %+v add up to %v, want more than 0 and at most the call's %v", i, ph, ph.Total(), took)
		}
		if ph.Apply <= 0 || ph.Queue < 0 || ph.Append < 0 || ph.Replicate <= 0 {
			t.Errorf("put %d: phases %+v; want the entry's times found in the leader's ring", i, ph)
		}
		if ph.Batch != 0 || ph.ReadIndex != 0 || ph.ApplyWait != 0 || ph.Hop() != 0 {
			t.Errorf("put %d: phases %+v; an embedded put has no batch, read or hop phases", i, ph)
		}

		start = time.Now()
		v, err := c.GetTimed(ctx, key, &ph)
		took = time.Since(start)
		if err != nil || string(v) != "v" {
			t.Fatalf("GetTimed = %q, %v", v, err)
		}
		if ph.ReadIndex <= 0 || ph.Total() > took || ph.Total() != ph.ReadIndex+ph.ApplyWait {
			t.Errorf("get %d: phases %+v (total %v) in a call of %v; want a read index and apply wait only", i, ph, ph.Total(), took)
		}
	}
	a, b := keyOn(c, 0, "a"), keyOn(c, 1, "b")
	res, err := c.Txn(ctx, Txn{Ops: []Op{Set(a, []byte("1")), Set(b, []byte("2"))}})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.DecidePhases; d.Total() <= 0 || d.Total() > res.Decide || d.Apply <= 0 {
		t.Errorf("decide %v has phases %+v (total %v); want its entry's, within it", res.Decide, d, d.Total())
	}
}

// A remote call's phases are the node's, its wait in the controller's
// line is Line, and the rest of its round trip is Wire: never negative,
// so that a node (or a line) claiming more time than the call cannot make
// the phases add up to more than the call.
func TestRemotePhasesAddTheHop(t *testing.T) {
	node := NodeTimes{Phases: Phases{Queue: 10, Append: 20, Replicate: 300, Apply: 40}, Took: 400, Line: 150}
	var ph Phases
	ph.remote(&node, 1000)
	if want := (Phases{Queue: 10, Append: 20, Replicate: 300, Apply: 40, Line: 150, Wire: 450}); ph != want {
		t.Errorf("phases %+v, want %+v", ph, want)
	}
	if ph.Hop() != 600 || ph.Total() != 970 {
		t.Errorf("hop %v, total %v; want 600, and 970 with the node's phases", ph.Hop(), ph.Total())
	}
	ph.remote(&NodeTimes{Phases: Phases{ReadIndex: 50}, Took: 900}, 800)
	if ph.Hop() != 600 || ph.ReadIndex != 50 {
		t.Errorf("a node's time beyond the round trip changed the hop: %+v", ph)
	}
	// A line's wait beyond the round trip is cut to it, and the wire then
	// has nothing left.
	var q Phases
	q.remote(&NodeTimes{Took: 100, Line: 5000}, 1000)
	if q.Line != 1000 || q.Wire != 0 || q.Total() != 1000 {
		t.Errorf("a line's wait beyond the round trip: %+v, want line 1000 and no wire", q)
	}
	q = Phases{}
	q.remote(&NodeTimes{Took: 100, Line: -5}, 1000)
	if q.Line != 0 || q.Wire != 900 {
		t.Errorf("a negative line's wait: %+v, want no line and wire 900", q)
	}
	var none *Phases
	none.remote(&node, 1000) // an untimed call: nothing to add to
	if allocs := testing.AllocsPerRun(100, func() { ph.remote(&node, 1000) }); allocs != 0 {
		t.Errorf("adding a remote call's phases allocates %.1f times", allocs)
	}
}

// Through replicas in node hosts (the remote path without a transport), a
// put and a read split into the node's phases and the hop, within the
// call's latency.
func TestRemotePhases(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.Launcher = newHostLauncher(t, StorageMemory) })
	ctx := testContext(t)
	var full bool
	for i := range 10 {
		var ph Phases
		start := time.Now()
		if err := c.PutTimed(ctx, "k", []byte("v"), &ph); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); ph.Total() > took || ph.Wire <= 0 || ph.Replicate <= 0 {
			t.Errorf("put %d: phases %+v (total %v) in a call of %v; want a hop and replicate+commit within it", i, ph, ph.Total(), took)
		}
		full = full || (ph.Queue > 0 && ph.Append > 0 && ph.Apply > 0)
		start = time.Now()
		if _, err := c.GetTimed(ctx, "k", &ph); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); ph.Total() > took || ph.ReadIndex <= 0 || ph.Wire <= 0 || ph.Line != 0 || ph.Total() != ph.ReadIndex+ph.ApplyWait+ph.Wire {
			t.Errorf("get %d: phases %+v (total %v) in a call of %v; want read-index, apply-wait and hop within it", i, ph, ph.Total(), took)
		}
	}
	if !full {
		t.Error("no put's entry times were found on its node")
	}
}

// The ring turns an entry's times into phases only when they are that
// entry's and in order; a slot taken over by a later entry, or times out of
// order, count as not found: raft's whole part goes to Replicate.
func TestEntryTimesRejectOtherEntries(t *testing.T) {
	rep := &replica{}
	rt := &rep.times
	logs := []*raft.Log{{Index: 5}}
	rt.storing(logs, 100, 150)
	rt.applying(logs, 400)

	var ph Phases
	ph.entry(rep, 5, 50, 500)
	if want := (Phases{Queue: 50, Append: 50, Replicate: 250, Apply: 100}); ph != want {
		t.Errorf("own entry: %+v, want %+v", ph, want)
	}
	if _, _, _, ok := rt.lookup(5, 50); !ok {
		t.Error("the ring lost entry 5")
	}
	for name, tc := range map[string]struct {
		index    uint64
		from, to int64
	}{
		"a later entry in the slot":          {5 + entrySlots, 50, 500},
		"handed to raft after it was stored": {5, 120, 500},
		"answered before it was applied":     {5, 50, 300},
	} {
		var ph Phases
		ph.entry(rep, tc.index, tc.from, tc.to)
		if want := (Phases{Replicate: time.Duration(tc.to - tc.from)}); ph != want {
			t.Errorf("%s: %+v, want %+v", name, ph, want)
		}
	}
	// A slot overwritten by entry 5+entrySlots no longer answers for 5.
	rt.storing([]*raft.Log{{Index: 5 + entrySlots}}, 600, 650)
	if _, _, _, ok := rt.lookup(5, 50); ok {
		t.Error("entry 5 found in a slot that entry 5+entrySlots took")
	}
}

// Timing an entry allocates nothing: the clock reads, the ring's stores
// and the lookup a timed put adds to the put itself. (Counting a whole
// put's allocations would count raft's background goroutines too.)
func TestPhaseTimingsAllocateNothing(t *testing.T) {
	rep := &replica{}
	l := &raft.Log{}
	one := [1]*raft.Log{l}
	var ph Phases
	allocs := testing.AllocsPerRun(200, func() {
		l.Index++
		from := ph.clock()
		start := nanotime()
		rep.times.storing(one[:], start, nanotime())
		rep.times.applying(one[:], nanotime())
		ph.entry(rep, l.Index, from, ph.clock())
	})
	if allocs != 0 {
		t.Errorf("timing an entry allocates %.1f times", allocs)
	}
	if ph.Total() <= 0 {
		t.Errorf("phases %+v: the entry's times were not found", ph)
	}
}

// setEntryTimes turns every replica's entry timing on or off.
func setEntryTimes(c *Cluster, on bool) {
	for _, n := range c.byID {
		for _, st := range n.seats() {
			st.replica().times.off.Store(!on)
		}
	}
}

// BenchmarkPutPhases is BenchmarkPut with the phase timings off (Put, no
// entry times recorded) and on (PutTimed, every replica timing its
// entries), in one run, to show what the timings cost: compare the two
// with benchstat. Each run has a fresh cluster, closed at its end: on one
// cluster for all, the second mode always met a longer log and a larger
// heap than the first, which made the timings look a third dearer than
// they are.
func BenchmarkPutPhases(b *testing.B) {
	value := bytes.Repeat([]byte{'x'}, benchValueSize)
	for _, on := range []bool{false, true} {
		name := "timings=off"
		if on {
			name = "timings=on"
		}
		b.Run(name, func(b *testing.B) {
			c := newTestCluster(b, 3, func(cfg *Config) { cfg.LogOutput = nil })
			defer c.Close()
			setEntryTimes(c, on)
			var seq atomic.Uint64
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var ph Phases
				for pb.Next() {
					key := "key-" + strconv.FormatUint(seq.Add(1)%4096, 10)
					var err error
					if on {
						err = c.PutTimed(ctx, key, value, &ph)
					} else {
						err = c.Put(ctx, key, value)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPhaseTimingsAlone is what the timings add to one put, measured
// without the put: the clock reads, the ring's stores on the log store's
// and state machine's side, and the caller's lookup. Against a put's
// latency (BenchmarkPutPhases) it bounds their cost where that benchmark's
// noise cannot.
func BenchmarkPhaseTimingsAlone(b *testing.B) {
	rep := &replica{}
	l := &raft.Log{}
	one := [1]*raft.Log{l}
	var ph Phases
	b.ReportAllocs()
	for i := range b.N {
		l.Index = uint64(i + 1)
		from := ph.clock()
		start := nanotime()
		rep.times.storing(one[:], start, nanotime())
		rep.times.applying(one[:], nanotime())
		ph.entry(rep, l.Index, from, ph.clock())
	}
}

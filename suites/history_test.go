package suites

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// step is one op of a scripted history on key 0: a write (of the next
// value) or a read returning the value of write #read (0: none), with
// call and return times.
type step struct {
	write     bool
	read      int
	call, ret int64
	err       error
}

// scripted records steps into a one-key history and checks it.
func scripted(t *testing.T, lim historyLimits, steps []step) metrics.Check {
	t.Helper()
	h := newHistory([]string{"k"}, lim)
	var written []uint64
	for _, s := range steps {
		id, op := h.begin(0, s.write, 0)
		if s.write {
			written = append(written, id)
			endWrite(op, s.err)
		} else {
			v := []byte(nil)
			err := s.err
			if s.read > 0 {
				v = binary.LittleEndian.AppendUint64(nil, written[s.read-1])
			} else if err == nil {
				err = core.ErrNotFound
			}
			h.endRead(0, op, v, err)
		}
		if op != nil {
			op.call = s.call
			if op.state == opDone {
				op.ret = s.ret
			}
		}
	}
	return h.check(context.Background(), "test", t.TempDir())
}

func TestLinearizabilityVerdicts(t *testing.T) {
	lim := defaultHistoryLimits
	for _, tc := range []struct {
		name  string
		steps []step
		want  metrics.CheckVerdict
	}{
		{"reads follow writes", []step{{write: true, call: 0, ret: 10}, {read: 1, call: 11, ret: 12}, {write: true, call: 13, ret: 20}, {read: 2, call: 21, ret: 22}}, metrics.CheckOK},
		{"a read overlapping a write may see either", []step{{write: true, call: 0, ret: 10}, {write: true, call: 11, ret: 30}, {read: 1, call: 12, ret: 13}, {read: 2, call: 14, ret: 15}}, metrics.CheckOK},
		{"a read misses an acknowledged write", []step{{write: true, call: 0, ret: 10}, {write: true, call: 11, ret: 20}, {read: 1, call: 21, ret: 22}}, metrics.CheckViolated},
		{"a read goes back in time", []step{{write: true, call: 0, ret: 10}, {write: true, call: 5, ret: 30}, {read: 2, call: 12, ret: 13}, {read: 1, call: 14, ret: 15}}, metrics.CheckViolated},
		{"a read of nothing after a write", []step{{write: true, call: 0, ret: 10}, {read: 0, call: 11, ret: 12}}, metrics.CheckViolated},
		{"a write of unknown outcome may apply late", []step{{write: true, call: 0, ret: 10}, {write: true, call: 11, err: context.DeadlineExceeded}, {read: 1, call: 50, ret: 51}, {read: 2, call: 60, ret: 61}}, metrics.CheckOK},
		{"a write refused for sure never applies", []step{{write: true, call: 0, ret: 10}, {write: true, call: 11, err: core.ErrConflict}, {read: 2, call: 60, ret: 61}}, metrics.CheckViolated},
		{"a failed read says nothing", []step{{write: true, call: 0, ret: 10}, {read: 0, call: 11, ret: 12, err: errors.New("no leader")}}, metrics.CheckOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := scripted(t, lim, tc.steps); c.Verdict != tc.want {
				t.Errorf("%v, want %s", c, tc.want)
			}
		})
	}
}

// A read of another key's value, or of bytes no write made, is a
// violation.
func TestForeignValuesAreViolations(t *testing.T) {
	h := newHistory([]string{"a", "b"}, defaultHistoryLimits)
	idB, op := h.begin(1, true, 0)
	endWrite(op, nil)
	_, op = h.begin(0, false, 0)
	h.endRead(0, op, binary.LittleEndian.AppendUint64(nil, idB), nil)
	if c := h.check(context.Background(), "test", t.TempDir()); c.Verdict != metrics.CheckViolated {
		t.Errorf("a read of b's value from a: %v", c)
	}
}

// Past a key's cap ops are not recorded, but a recorded read of a write
// past it is no violation.
func TestHistoryCapsEveryKey(t *testing.T) {
	lim := defaultHistoryLimits
	lim.OpsPerKey = chunkOps
	var steps []step
	for i := range chunkOps + 10 {
		steps = append(steps, step{write: true, call: int64(2 * i), ret: int64(2*i + 1)})
	}
	// Claimed before the last writes, returns after them.
	c := scripted(t, lim, steps)
	if c.Verdict != metrics.CheckOK || c.Ops != chunkOps {
		t.Errorf("%v: want ok on the first %d ops", c, chunkOps)
	}
	h := newHistory([]string{"k"}, lim)
	_, read := h.begin(0, false, 0)
	for range chunkOps + 5 {
		_, op := h.begin(0, true, 0)
		endWrite(op, nil)
	}
	h.endRead(0, read, binary.LittleEndian.AppendUint64(nil, uint64(1)<<32|chunkOps+3), nil)
	if c := h.check(context.Background(), "test", t.TempDir()); c.Verdict != metrics.CheckOK {
		t.Errorf("a read of a write past the cap: %v", c)
	}
}

// The memory budget over all keys closes the keys that would pass it.
func TestHistoryMemoryBudget(t *testing.T) {
	lim := defaultHistoryLimits
	lim.MaxOps = 2 * chunkOps
	keys := make([]string, 4)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	h := newHistory(keys, lim)
	recorded := 0
	for k := range keys {
		for range chunkOps {
			if _, op := h.begin(k, true, 0); op != nil {
				endWrite(op, nil)
				recorded++
			}
		}
	}
	if recorded != lim.MaxOps {
		t.Errorf("recorded %d ops, budget %d", recorded, lim.MaxOps)
	}
}

// A check that runs out of time says unknown, with the reason.
func TestLinearizabilityBudget(t *testing.T) {
	lim := defaultHistoryLimits
	lim.Budget = time.Nanosecond
	h := syntheticHistory(20_000, 8, 625*16)
	h.lim = lim
	if c := h.check(context.Background(), "test", t.TempDir()); c.Verdict != metrics.CheckUnknown || c.Detail == "" {
		t.Errorf("%v, want unknown with the reason", c)
	}
}

// The unsampled keys cost no allocation, nor do the sampled ones between
// chunks.
func TestRecordingDoesNotAllocate(t *testing.T) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "c/" + strconv.Itoa(i)
	}
	h := newHistory(keys, defaultHistoryLimits)
	payload := make([]byte, 1024)
	var vb valueBuf
	vb.with(payload, 1)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i = (i + 1) % len(keys)
		if k := h.key(i); k >= 0 && k != 0 {
			id, op := h.begin(k, true, 0)
			vb.with(payload, id)
			endWrite(op, nil)
		}
	})
	// One chunk of 64 ops per sampled key touched: 1000 ops over 10,000
	// keys touch 62 sampled keys once each.
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per op", allocs)
	}
}

// syntheticHistory is what clients clients record on keys keys over n
// iterations of the consensus workload (a put, and one time in 10 a read
// after it), with latencies of 0.2 to 2 ms, each op taking effect at a
// random point between its call and return: a linearizable history.
func syntheticHistory(n, clients, keys int) *history {
	names := make([]string, keys)
	for i := range names {
		names[i] = "c/" + strconv.Itoa(i)
	}
	h := newHistory(names, defaultHistoryLimits)
	rng := rand.New(rand.NewPCG(1, 2))
	type pending struct {
		op     *histOp
		k      int
		write  bool
		value  uint64
		effect int64
	}
	now := make([]int64, clients)
	var all []pending
	for i := range n {
		c := i % clients
		idx := rng.IntN(keys)
		k := h.key(idx)
		lat := func() int64 { return int64(200_000 + rng.IntN(1_800_000)) }
		call := now[c]
		ret := call + lat()
		now[c] = ret + 1000
		if k < 0 {
			continue
		}
		id, op := h.begin(k, true, c)
		if op != nil {
			op.call, op.ret, op.state = call, ret, opDone
			if rng.IntN(1000) == 0 {
				op.state = opOpen // a write cut short
			}
			all = append(all, pending{op, k, true, id, call + rng.Int64N(ret-call)})
		}
		if i%10 == 0 {
			call, ret := now[c], now[c]+lat()
			now[c] = ret + 1000
			if _, rop := h.begin(k, false, c); rop != nil {
				rop.call, rop.ret, rop.state = call, ret, opDone
				all = append(all, pending{rop, k, false, 0, call + rng.Int64N(ret-call)})
			}
		}
	}
	// Replay in effect order: each read returns the register's value then.
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(all[a].effect, all[b].effect) })
	reg := map[int]uint64{}
	for _, i := range order {
		p := all[i]
		if p.write {
			if p.op.state == opDone {
				reg[p.k] = p.value
			}
		} else {
			p.op.value = reg[p.k]
		}
	}
	return h
}

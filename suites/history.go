package suites

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// historyLimits bounds what a history records and how long checking it may
// take: the memory and time budget of the linearizability checks.
type historyLimits struct {
	// Keys are sampled: every key when there are at most MinSampled, else
	// one in SampleEvery (but at least MinSampled), at most MaxSampled.
	MinSampled, SampleEvery, MaxSampled int
	// OpsPerKey caps one key's history, as Jepsen caps its independent
	// registers: a search over a register's history grows fast with its
	// length, and a thousand ops is what such a checker decides quickly.
	OpsPerKey int
	// MaxOps caps every key's history together: the memory budget
	// (MaxOps × 32 bytes).
	MaxOps int
	// Budget is the time checking may take; past it the verdict is
	// unknown.
	Budget time.Duration
}

// defaultHistoryLimits: a 60 s consensus run on 10,000 keys spreads about
// 60 ops on each of the 625 keys sampled, far below the caps; a hot key
// of the concurrency suite reaches the per-key cap, and its history stops
// there. 256 Ki ops cost 8 MiB at most.
var defaultHistoryLimits = historyLimits{
	MinSampled: 64, SampleEvery: 16, MaxSampled: 1024,
	OpsPerKey: 1024, MaxOps: 256 << 10,
	Budget: 10 * time.Second,
}

// chunkOps is how many ops one allocation of a key's history holds: a
// sampled key allocates once per chunkOps ops, an unsampled one never.
const chunkOps = 64

// The state of a recorded op.
const (
	opPending uint8 = iota // begun, not ended: its outcome is unknown
	opDone                 // returned: a read's value or an acknowledged write
	opOpen                 // a write whose outcome is unknown: it may take effect any time after its call
	opFailed               // failed for sure (a read that returned an error, a write refused): no effect
)

// histOp is one recorded read or write, 32 bytes.
type histOp struct {
	call, ret int64  // monotonic nanoseconds
	value     uint64 // the value written, or the value a read returned (0: none)
	client    int32
	write     bool
	state     uint8
}

type histChunk [chunkOps]histOp

// denied marks a chunk refused for lack of budget.
var denied = new(histChunk)

// keyHistory is one sampled key's ops, in the order they began. Slots are
// claimed with one atomic add; each op's slot is written by its client
// alone, and read by the checker once every client has returned.
type keyHistory struct {
	next   atomic.Int64 // slots claimed, past the cap too (each write needs a value)
	limit  atomic.Int64 // slots below it are recorded
	chunks []atomic.Pointer[histChunk]
}

// history records reads and writes of a sample of a workload's keys, for
// a linearizability check once the load has stopped.
type history struct {
	lim      historyLimits
	every    int // key i is sampled when i%every == 0 and i/every < len(keys)
	keys     []keyHistory
	names    []string // the sampled keys' names
	reserved atomic.Int64
}

// newHistory samples keys, as lim says.
func newHistory(keys []string, lim historyLimits) *history {
	h := &history{lim: lim, every: 1}
	if len(keys) > lim.MinSampled {
		h.every = max(1, min(lim.SampleEvery, len(keys)/lim.MinSampled))
	}
	n := min((len(keys)+h.every-1)/h.every, lim.MaxSampled)
	h.keys = make([]keyHistory, n)
	h.names = make([]string, n)
	chunks := (lim.OpsPerKey + chunkOps - 1) / chunkOps
	for j := range h.keys {
		h.keys[j].chunks = make([]atomic.Pointer[histChunk], chunks)
		h.keys[j].limit.Store(int64(chunks * chunkOps))
		h.names[j] = keys[j*h.every]
	}
	return h
}

// key returns the history of key i, or -1 when i is not sampled. It
// neither allocates nor locks: the unsampled keys' cost.
func (h *history) key(i int) int {
	if h == nil || i%h.every != 0 || i/h.every >= len(h.keys) {
		return -1
	}
	return i / h.every
}

// begin claims the next op of sampled key k. It returns the value a write
// must carry (unique to the key, past the cap too) and the op to end, or
// nil when the key's history is full.
func (h *history) begin(k int, write bool, client int) (uint64, *histOp) {
	kh := &h.keys[k]
	seq := kh.next.Add(1) - 1
	value := uint64(k+1)<<32 | uint64(seq+1)
	if seq >= kh.limit.Load() {
		return value, nil
	}
	c := kh.chunks[seq/chunkOps].Load()
	if c == nil {
		c = h.grow(kh, int(seq/chunkOps))
	}
	if c == denied {
		return value, nil
	}
	op := &c[seq%chunkOps]
	*op = histOp{call: int64(metrics.Now()), client: int32(client), write: write}
	if write {
		op.value = value
	}
	return value, op
}

// grow allocates chunk i of kh, within the budget of every key.
func (h *history) grow(kh *keyHistory, i int) *histChunk {
	if h.reserved.Add(chunkOps) > int64(h.lim.MaxOps) {
		h.reserved.Add(-chunkOps)
		if kh.chunks[i].CompareAndSwap(nil, denied) {
			// The key's history ends here: the checker stops at the limit,
			// whatever a later chunk allocated in a race may hold.
			for end := int64(i * chunkOps); ; {
				lim := kh.limit.Load()
				if lim <= end || kh.limit.CompareAndSwap(lim, end) {
					break
				}
			}
		}
		return kh.chunks[i].Load()
	}
	c := new(histChunk)
	if !kh.chunks[i].CompareAndSwap(nil, c) {
		h.reserved.Add(-chunkOps)
	}
	return kh.chunks[i].Load()
}

// endWrite ends a write with its error: acknowledged, refused for sure, or
// of unknown outcome — left open, as it may still take effect.
func endWrite(op *histOp, err error) {
	if op == nil {
		return
	}
	switch {
	case err == nil:
		op.ret, op.state = int64(metrics.Now()), opDone
	case definiteFailure(err):
		op.state = opFailed
	default:
		op.state = opOpen
	}
}

// endRead ends a read of sampled key k that returned v, err. A failed read
// has no effect and is dropped.
func (h *history) endRead(k int, op *histOp, v []byte, err error) {
	if op == nil {
		return
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		op.ret, op.value, op.state = int64(metrics.Now()), 0, opDone
	case err != nil:
		op.state = opFailed
	default:
		op.ret, op.value, op.state = int64(metrics.Now()), decodeValue(k, v), opDone
	}
}

// foreign is what a read of a value this key's history never wrote (or
// could not have written) decodes to: no write explains it.
const foreign = ^uint64(0)

// decodeValue is the write id a value carries in its first 8 bytes, or
// foreign when it belongs to no write of key k.
func decodeValue(k int, v []byte) uint64 {
	if len(v) < 8 {
		return foreign
	}
	id := binary.LittleEndian.Uint64(v)
	if id>>32 != uint64(k+1) || uint32(id) == 0 {
		return foreign
	}
	return id
}

// definiteFailure reports whether a write's error says it never took
// effect: refused by a lock or a condition. Anything else (a deadline, a
// lost leader, the run ending) may have been applied.
func definiteFailure(err error) bool {
	return errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrConditionFailed) || errors.Is(err, core.ErrAborted)
}

// valueBuf is one client's buffer for the unique values of sampled
// writes: the payload with a write id in its first 8 bytes. Puts keep no
// value, so one buffer serves every write; it is copied again only when
// the payload changes (a live data size change).
type valueBuf struct {
	buf []byte
	src []byte
}

// with returns payload carrying id.
func (b *valueBuf) with(payload []byte, id uint64) []byte {
	if len(b.src) != len(payload) || (len(payload) > 0 && &b.src[0] != &payload[0]) {
		b.buf = make([]byte, max(len(payload), 8))
		copy(b.buf, payload)
		b.src = payload
	}
	binary.LittleEndian.PutUint64(b.buf, id)
	return b.buf
}

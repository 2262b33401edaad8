package core

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hashicorp/raft"
)

// fsm is one replica's key-value state machine.
//
// Concurrency: raft calls ApplyBatch and Snapshot from its single FSM
// goroutine and Restore while nothing else is applied; readers (Get,
// LocalGet) and FSMSnapshot.Persist run concurrently with all of them. A
// stored value is never modified afterwards, so a reader or a snapshot may
// keep one after releasing the lock.
type fsm struct {
	mu   sync.RWMutex
	data map[string][]byte // written through set and del, which keep idx
	idx  []*prefixIndex    // see scan
	tx   txnState          // locks, intents, decisions and saga records (txnfsm.go)

	// applied is the index of the last command or configuration entry
	// applied, stored after the data it covers so that a reader who sees
	// the index also sees the writes. Raft's own AppliedIndex will not do
	// for linearizable reads: it moves when entries are handed to this
	// goroutine, before they are applied.
	applied atomic.Uint64

	// A caller waiting for applied to reach an index (retry.awaitApplied)
	// counts itself in waiters and waits for moved to close; the applier
	// closes it after storing applied, and only when someone waits.
	waiters atomic.Int32
	movedMu sync.Mutex
	moved   chan struct{} // nil until a waiter makes one
}

func newFSM() *fsm {
	return &fsm{data: make(map[string][]byte), tx: newTxnState()}
}

// ApplyBatch makes fsm a raft.BatchingFSM, which also hands it configuration
// entries; counting those in applied keeps the read index reachable after a
// membership change, which no command follows.
//
// It takes the lock once per batch rather than once per entry: the leader's
// callers wait for this goroutine, so its time per entry is on every
// write's path.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	resps := make([]any, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if len(l.Data) > 0 && l.Data[0] >= opTxnPrepare {
			resps[i] = f.applyTxnEntryLocked(l.Data)
		} else {
			resps[i] = f.applyLocked(l.Data)
		}
	}
	f.mu.Unlock()
	if n := len(logs); n > 0 {
		f.applied.Store(logs[n-1].Index)
		f.advanced()
	}
	return resps
}

// advanced wakes the callers waiting for applied to move, if any. Call it
// after storing applied.
func (f *fsm) advanced() {
	// Sequentially consistent with the waiter's Add and Load: either the
	// waiter sees the new applied, or this sees the waiter.
	if f.waiters.Load() == 0 {
		return
	}
	f.movedMu.Lock()
	if f.moved != nil {
		close(f.moved)
		f.moved = nil
	}
	f.movedMu.Unlock()
}

// watchApplied returns a channel closed once applied moves on from what it
// is when watchApplied returns, and done, which the caller must call when
// it stops waiting. Read applied after calling it.
func (f *fsm) watchApplied() (moved <-chan struct{}, done func()) {
	f.waiters.Add(1)
	f.movedMu.Lock()
	if f.moved == nil {
		f.moved = make(chan struct{})
	}
	ch := f.moved
	f.movedMu.Unlock()
	return ch, f.unwatch
}

func (f *fsm) unwatch() { f.waiters.Add(-1) }

// Apply is never called while ApplyBatch exists; raft.FSM requires it.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// applyLocked returns nil or an error, which the leader's Apply future
// carries back to Put. f.mu must be held.
func (f *fsm) applyLocked(data []byte) error {
	cmd, err := decodeCommand(data)
	if err != nil {
		return err
	}
	if cmd.op != opPut {
		return nil
	}
	key := keyOf(cmd.key)
	if len(f.tx.locks) > 0 {
		// A put never lands under an intent, which would overwrite it when
		// its transaction commits: Put settles the lock and tries again.
		if l := f.tx.locks[key]; l != nil {
			return &lockedError{key: string(cmd.key), holder: l.holder}
		}
	}
	f.set(key, cmd.value)
	return nil
}

// The state machine stores keys and values that alias the log entry's
// buffer rather than copies: the log stores (storage.go) and raft's
// transport all hand over buffers they never write again, and with
// megabyte values the copy was a third of the cluster's CPU. Once raft
// compacts the entry away, the map holds the only reference; a map
// assignment replaces the key too, so an overwritten key does not keep its
// old entry alive. A log store that reused buffers (a disk store with
// pooled reads, say) would need copies here and in txnfsm.go.

// keyOf returns b as a key to store, aliasing it.
func keyOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// get returns the stored value itself: callers must copy it before handing
// it out of the package.
func (f *fsm) get(key string) ([]byte, bool) {
	f.mu.RLock()
	v, ok := f.data[key]
	f.mu.RUnlock()
	return v, ok
}

// getHeld is get that also returns who holds a transaction's lock on key,
// if anyone, as of the same moment.
func (f *fsm) getHeld(key string) ([]byte, bool, []lockHolder) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[key]
	if len(f.tx.locks) > 0 {
		if l := f.tx.locks[key]; l != nil {
			return v, ok, []lockHolder{l.holder}
		}
	}
	return v, ok, nil
}

// scan calls fn for every stored key that starts with prefix and lies in
// [from, to) (to "" for no upper bound), in no particular order, under the
// read lock, and stops at fn's first error, which it returns. Values are
// immutable, so fn may keep one; fn must not call back into f. It also
// returns the holders of the locks on keys in that range, as of the same
// moment, so that the reader can settle them (Cluster.readShard).
//
// A scan under a prefix walks only that prefix's keys (prefixIndex), not
// the whole shard: the query suite's rows share their shards with every
// other suite's keys, and after the consensus suite's 10,000 a query
// walked all of them and ran at a fifth of its speed, under the quick
// profile's throughput baseline.
func (f *fsm) scan(prefix, from, to string, fn func(key string, value []byte) error) ([]lockHolder, error) {
	in := func(k string) bool { return strings.HasPrefix(k, prefix) && k >= from && (to == "" || k < to) }
	f.mu.RLock()
	ix := f.indexFor(prefix)
	if ix == nil && prefix != "" && len(f.idx) < maxPrefixIndexes {
		f.mu.RUnlock()
		f.mu.Lock()
		if f.indexFor(prefix) == nil && len(f.idx) < maxPrefixIndexes {
			f.idx = append(f.idx, newPrefixIndex(prefix, f.data))
		}
		f.mu.Unlock()
		f.mu.RLock()
		ix = f.indexFor(prefix) // Restore may have dropped it meanwhile
	}
	defer f.mu.RUnlock()
	if ix != nil {
		for k := range ix.keys {
			v, ok := f.data[k]
			if !ok || !in(k) {
				continue
			}
			if err := fn(k, v); err != nil {
				return nil, err
			}
		}
	} else {
		for k, v := range f.data {
			if !in(k) {
				continue
			}
			if err := fn(k, v); err != nil {
				return nil, err
			}
		}
	}
	var held []lockHolder
	for k, l := range f.tx.locks {
		if in(k) {
			held = append(held, l.holder)
		}
	}
	return held, nil
}

// lookup calls fn for each of keys in turn with its value and whether it is
// stored, all under one read lock, so that fn sees the keys as of one
// moment; it stops at fn's first error, which it returns. fn must not call
// back into f. It also returns the holders of the locks on keys, as of
// the same moment.
func (f *fsm) lookup(keys []string, fn func(key string, value []byte, ok bool) error) ([]lockHolder, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var held []lockHolder
	for _, k := range keys {
		v, ok := f.data[k]
		if err := fn(k, v, ok); err != nil {
			return nil, err
		}
		if len(f.tx.locks) > 0 {
			if l := f.tx.locks[k]; l != nil {
				held = append(held, l.holder)
			}
		}
	}
	return held, nil
}

func (f *fsm) appliedIndex() uint64 { return f.applied.Load() }

// Snapshot runs on raft's FSM goroutine and blocks Apply, so it only copies
// the map's entries; values are immutable, so the copy can share them.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	data := maps.Clone(f.data)
	tx := f.tx.clone()
	f.mu.RUnlock()
	return &kvSnapshot{data: data, tx: tx, applied: f.applied.Load()}, nil
}

// Restore replaces the whole state with a snapshot written by Persist.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, tx, applied, err := readFullSnapshot(bufio.NewReader(rc))
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.data = data
	f.idx = nil // scans build them again
	f.tx = tx
	f.mu.Unlock()
	f.applied.Store(applied)
	f.advanced()
	return nil
}

// Snapshot format: version byte, applied index (uvarint), entry count
// (uvarint), then per entry the key length (uvarint), the key, the value
// length (uvarint) and the value. Version 2 adds the transaction state
// after the entries (txnState.write), version 3 the token of a saga step's
// compensation, version 4 the shard clock and what it takes to drop
// decision and saga records; older snapshots still restore.
const (
	snapshotVersion = 4
	// maxSnapshotField rejects a corrupt length before it becomes a huge
	// allocation.
	maxSnapshotField = 1 << 30
)

var errBadSnapshot = errors.New("core: malformed snapshot")

type kvSnapshot struct {
	data    map[string][]byte
	tx      txnState
	applied uint64
}

// Persist runs concurrently with Apply; it only reads its own copy of the
// map and immutable values.
//
// Into the in-memory store it writes nothing: the store keeps the snapshot
// as segments that share the values with the state machine (segments), so
// a snapshot costs no copy of the data. Written out in full, as it was,
// every replica held its shard's data twice, and with megabyte values those
// copies were the largest thing in the heap.
func (s *kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if m, ok := sink.(*memSnapshotSink); ok {
		m.keep(s.segments())
		return sink.Close()
	}
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *kvSnapshot) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var num [binary.MaxVarintLen64]byte
	uvarint := func(v uint64) {
		// bufio.Writer keeps the first error and reports it from Flush.
		_, _ = bw.Write(binary.AppendUvarint(num[:0], v))
	}
	_ = bw.WriteByte(snapshotVersion)
	uvarint(s.applied)
	uvarint(uint64(len(s.data)))
	for k, v := range s.data {
		uvarint(uint64(len(k)))
		_, _ = bw.WriteString(k)
		uvarint(uint64(len(v)))
		_, _ = bw.Write(v)
	}
	if s.tx.locks == nil {
		s.tx = newTxnState()
	}
	s.tx.write(bw)
	return bw.Flush()
}

// shareMin is the size from which segments shares a value rather than
// copying it next to its key.
const shareMin = 4 << 10

// segments lays s out as write does, in pieces whose concatenation is the
// snapshot: the values of shareMin bytes or more are the stored values
// themselves (immutable, so they may be shared), and the small fields
// between them are copied into buffers of their own.
func (s *kvSnapshot) segments() [][]byte {
	var segs [][]byte
	small := []byte{snapshotVersion}
	small = binary.AppendUvarint(small, s.applied)
	small = binary.AppendUvarint(small, uint64(len(s.data)))
	for k, v := range s.data {
		small = binary.AppendUvarint(small, uint64(len(k)))
		small = append(small, k...)
		small = binary.AppendUvarint(small, uint64(len(v)))
		if len(v) < shareMin {
			small = append(small, v...)
			continue
		}
		segs = append(segs, small, v)
		small = nil
	}
	if s.tx.locks == nil {
		s.tx = newTxnState()
	}
	var tx bytes.Buffer
	bw := bufio.NewWriter(&tx)
	s.tx.write(bw)
	_ = bw.Flush() // a bytes.Buffer does not fail
	return append(segs, append(small, tx.Bytes()...))
}

func (s *kvSnapshot) Release() { s.data, s.tx = nil, txnState{} }

func readFullSnapshot(r *bufio.Reader) (map[string][]byte, txnState, uint64, error) {
	version, err := r.ReadByte()
	if err != nil {
		return nil, txnState{}, 0, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	if version < 1 || version > snapshotVersion {
		return nil, txnState{}, 0, fmt.Errorf("%w: version %d, want %d", errBadSnapshot, version, snapshotVersion)
	}
	data, applied, err := readEntries(r)
	if err != nil {
		return nil, txnState{}, 0, err
	}
	tx := newTxnState()
	if version >= 2 {
		if tx, err = readTxnState(r, version); err != nil {
			return nil, txnState{}, 0, err
		}
	}
	return data, tx, applied, nil
}

func readEntries(r *bufio.Reader) (map[string][]byte, uint64, error) {
	applied, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	field := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		if n > maxSnapshotField {
			return nil, fmt.Errorf("field of %d bytes", n)
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	data := make(map[string][]byte, min(count, 1<<20))
	for range count {
		k, err := field()
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", errBadSnapshot, err)
		}
		v, err := field()
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", errBadSnapshot, err)
		}
		data[string(k)] = v
	}
	return data, applied, nil
}

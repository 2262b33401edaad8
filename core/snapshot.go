package core

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// snapshotChunk is the size of the blocks a snapshot is stored in.
const snapshotChunk = 1 << 20

// memSnapshotStore keeps a replica's latest snapshot in memory, as
// raft.InmemSnapshotStore does, with two differences that matter for large
// values: a snapshot is kept in fixed-size chunks, so writing one copies
// each byte once instead of re-growing a single buffer (which, with
// megabyte values, was half of the cluster's CPU), and the state machine's
// own snapshots are not written at all but kept as segments that share its
// values (kvSnapshot.Persist); and a snapshot becomes visible only when its
// sink is closed, so Open never sees half of one.
type memSnapshotStore struct {
	mu     sync.RWMutex
	latest *memSnapshot
}

type memSnapshot struct {
	meta   raft.SnapshotMeta
	chunks [][]byte
}

func newMemSnapshotStore() *memSnapshotStore { return &memSnapshotStore{} }

func (s *memSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, conf raft.Configuration,
	confIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("core: unsupported snapshot version %d", version)
	}
	return &memSnapshotSink{store: s, snap: &memSnapshot{meta: raft.SnapshotMeta{
		Version: version, ID: fmt.Sprintf("%d-%d", term, index), Index: index, Term: term,
		Configuration: conf, ConfigurationIndex: confIndex,
	}}}, nil
}

func (s *memSnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.latest == nil {
		return []*raft.SnapshotMeta{}, nil
	}
	meta := s.latest.meta
	return []*raft.SnapshotMeta{&meta}, nil
}

func (s *memSnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.latest == nil || s.latest.meta.ID != id {
		return nil, nil, fmt.Errorf("core: no snapshot %q", id)
	}
	meta := s.latest.meta
	readers := make([]io.Reader, len(s.latest.chunks))
	for i, c := range s.latest.chunks {
		readers[i] = bytes.NewReader(c) // chunks are never written again
	}
	return &meta, io.NopCloser(io.MultiReader(readers...)), nil
}

type memSnapshotSink struct {
	store *memSnapshotStore
	snap  *memSnapshot
	done  bool
}

func (k *memSnapshotSink) Write(p []byte) (int, error) {
	if k.done {
		return 0, fmt.Errorf("core: write to a closed snapshot")
	}
	n := len(p)
	for len(p) > 0 {
		last := len(k.snap.chunks) - 1
		if last < 0 || len(k.snap.chunks[last]) == cap(k.snap.chunks[last]) {
			k.snap.chunks = append(k.snap.chunks, make([]byte, 0, snapshotChunk))
			last++
		}
		c := k.snap.chunks[last]
		m := min(len(p), cap(c)-len(c))
		k.snap.chunks[last] = append(c, p[:m]...)
		p = p[m:]
	}
	k.snap.meta.Size += int64(n)
	return n, nil
}

// keep makes segs the snapshot, sharing them: the state machine's
// snapshot (kvSnapshot.segments), whose large segments are its stored
// values. Segments, like chunks, are never written again.
func (k *memSnapshotSink) keep(segs [][]byte) {
	k.snap.chunks = segs
	k.snap.meta.Size = 0
	for _, c := range segs {
		k.snap.meta.Size += int64(len(c))
	}
}

// Close publishes the snapshot, replacing the previous one.
func (k *memSnapshotSink) Close() error {
	if k.done {
		return nil
	}
	k.done = true
	k.store.mu.Lock()
	k.store.latest = k.snap
	k.store.mu.Unlock()
	return nil
}

func (k *memSnapshotSink) ID() string { return k.snap.meta.ID }

// Cancel drops the snapshot; the previous one stays.
func (k *memSnapshotSink) Cancel() error {
	k.done = true
	k.snap = &memSnapshot{}
	return nil
}

package core

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func TestMemSnapshotStore(t *testing.T) {
	s := newMemSnapshotStore()
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("new store lists %d snapshots", len(l))
	}
	write := func(index uint64, data []byte) raft.SnapshotSink {
		sink, err := s.Create(1, index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Odd-sized writes cross chunk boundaries.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 70_001)
			if _, err := sink.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		return sink
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*snapshotChunk/16+7)
	first := write(10, big)
	if l, _ := s.List(); len(l) != 0 {
		t.Fatal("a snapshot is visible before its sink is closed")
	}
	first.Close()
	second := write(20, []byte("newer"))
	second.Cancel() // the first snapshot stays

	l, _ := s.List()
	if len(l) != 1 || l[0].Index != 10 || l[0].Size != int64(len(big)) {
		t.Fatalf("list = %+v, want the first snapshot of %d bytes", l, len(big))
	}
	_, rc, err := s.Open(l[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, big) {
		t.Errorf("read back %d bytes, not what was written (%d)", len(got), len(big))
	}
	if _, _, err := s.Open("nope"); err == nil {
		t.Error("opening an unknown snapshot succeeded")
	}
}

// TestKeptSnapshotSharesValues: the in-memory store keeps the state
// machine's snapshot without copying its large values, and what it hands
// out reads back as the snapshot Persist writes elsewhere, byte for byte in
// length and in the state it restores.
func TestKeptSnapshotSharesValues(t *testing.T) {
	src := newFSM()
	big := bytes.Repeat([]byte("v"), 1<<20)
	var logs []*raft.Log
	for i, k := range []string{"a", "b", "c"} {
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: encodePut(k, big)})
	}
	logs = append(logs, &raft.Log{Index: 4, Type: raft.LogCommand, Data: encodePut("small", []byte("s"))})
	src.ApplyBatch(logs)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	written := &memSink{}
	if err := snap.Persist(written); err != nil {
		t.Fatal(err)
	}

	store := newMemSnapshotStore()
	sink, err := store.Create(1, 4, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	l, _ := store.List()
	if len(l) != 1 || l[0].Size != int64(written.Len()) {
		t.Fatalf("list = %+v, want one snapshot of %d bytes", l, written.Len())
	}
	shared := 0
	for _, c := range store.latest.chunks {
		for _, v := range src.data {
			if len(c) > 0 && len(v) > 0 && &c[0] == &v[0] {
				shared++
			}
		}
	}
	if shared != 3 {
		t.Errorf("%d of the 3 large values are shared with the state machine, want all", shared)
	}
	meta, rc, err := store.Open(l[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if int64(len(got)) != meta.Size {
		t.Fatalf("read %d bytes, the meta says %d", len(got), meta.Size)
	}
	dst := newFSM()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(got))); err != nil {
		t.Fatal(err)
	}
	if len(dst.data) != 4 || !bytes.Equal(dst.data["b"], big) || string(dst.data["small"]) != "s" || dst.appliedIndex() != 4 {
		t.Fatalf("restored %d keys at index %d, want the 4 written at 4", len(dst.data), dst.appliedIndex())
	}
}

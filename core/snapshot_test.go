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

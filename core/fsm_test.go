package core

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func TestCommandRoundTrip(t *testing.T) {
	tests := []struct {
		name, key string
		value     []byte
	}{
		{"plain", "k", []byte("v")},
		{"empty key and value", "", nil},
		{"binary value", "bin", []byte{0, 1, 2, 255}},
		{"key needing a two-byte length", strings.Repeat("k", 300), []byte("v")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := decodeCommand(encodePut(tt.key, tt.value))
			if err != nil {
				t.Fatal(err)
			}
			if cmd.op != opPut || string(cmd.key) != tt.key || !bytes.Equal(cmd.value, tt.value) {
				t.Fatalf("decoded op %d key %q value %q", cmd.op, cmd.key, cmd.value)
			}
		})
	}
}

func TestDecodeCommandRejectsGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":              nil,
		"unknown op":         {99},
		"missing key length": {opPut},
		"key past the end":   {opPut, 5, 'a'},
	} {
		if _, err := decodeCommand(b); !errors.Is(err, errBadCommand) {
			t.Errorf("%s: err = %v, want errBadCommand", name, err)
		}
	}
}

// A stored value shares the log entry's buffer, to save a copy: the log
// stores never reuse entry buffers (storage.go).
func TestFSMSharesValuesWithTheLog(t *testing.T) {
	f := newFSM()
	data := encodePut("k", []byte("value"))
	f.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: data}})
	copy(data[len(data)-5:], "XXXXX")
	if v, _ := f.get("k"); string(v) != "XXXXX" {
		t.Errorf("stored value %q does not share the log entry's buffer", v)
	}
}

func TestFSMAppliedIndex(t *testing.T) {
	f := newFSM()
	resps := f.ApplyBatch([]*raft.Log{
		{Index: 4, Type: raft.LogCommand, Data: encodePut("a", []byte("1"))},
		{Index: 5, Type: raft.LogCommand, Data: []byte{99}},
		{Index: 6, Type: raft.LogConfiguration},
	})
	if resps[0] != nil || !errors.Is(resps[1].(error), errBadCommand) || resps[2] != nil {
		t.Fatalf("responses %v", resps)
	}
	if got := f.appliedIndex(); got != 6 {
		t.Fatalf("applied index %d, want 6: configuration entries count", got)
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := newFSM()
	var logs []*raft.Log
	want := map[string][]byte{"a": []byte("1"), "": []byte("empty key"), "big": bytes.Repeat([]byte("x"), 1<<16), "nil": {}}
	i := uint64(0)
	for k, v := range want {
		i++
		logs = append(logs, &raft.Log{Index: i, Type: raft.LogCommand, Data: encodePut(k, v)})
	}
	src.ApplyBatch(logs)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot must not show up in it.
	src.ApplyBatch([]*raft.Log{{Index: i + 1, Type: raft.LogCommand, Data: encodePut("later", nil)}})

	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed {
		t.Fatal("Persist did not close the sink")
	}

	dst := newFSM()
	dst.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: encodePut("stale", []byte("gone"))}})
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(dst.data, want, bytes.Equal) {
		t.Fatalf("restored %d keys, want %d (%v)", len(dst.data), len(want), keysOf(dst.data))
	}
	if dst.appliedIndex() != i {
		t.Fatalf("restored applied index %d, want %d", dst.appliedIndex(), i)
	}
}

func TestRestoreRejectsCorruptSnapshots(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":         nil,
		"wrong version": {9, 0, 0},
		"truncated":     {snapshotVersion, 1, 2, 1, 'k'},
	} {
		if err := newFSM().Restore(io.NopCloser(bytes.NewReader(b))); !errors.Is(err, errBadSnapshot) {
			t.Errorf("%s: err = %v, want errBadSnapshot", name, err)
		}
	}
	if _, _, _, err := readFullSnapshot(bufio.NewReader(bytes.NewReader([]byte{snapshotVersion, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}))); !errors.Is(err, errBadSnapshot) {
		t.Errorf("huge key length: err = %v, want errBadSnapshot", err)
	}
}

func keysOf(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// snapshotCopy is a new state machine restored from a snapshot of src.
func snapshotCopy(t *testing.T, src *fsm) *fsm {
	t.Helper()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	dst := newFSM()
	if err := dst.Restore(nopCloser{&sink.Buffer}); err != nil {
		t.Fatal(err)
	}
	return dst
}

type memSink struct {
	bytes.Buffer
	closed bool
}

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

// applyTxn applies one transaction log entry as ApplyBatch would.
func (f *fsm) applyTxn(data []byte) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyTxnEntryLocked(data)
}

// BenchmarkFSMApplyPut is the state machine's share of a put: applying
// batches of 64 puts of 128-byte values to 4096 keys, with no locks held,
// as on Put's fast path.
func BenchmarkFSMApplyPut(b *testing.B) {
	f := newFSM()
	value := bytes.Repeat([]byte{'v'}, 128)
	logs := make([]*raft.Log, 64)
	for i := range logs {
		logs[i] = &raft.Log{Type: raft.LogCommand}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(logs) {
		for j, l := range logs {
			l.Index = uint64(i + j + 1)
			l.Data = encodePut("key-"+strconv.Itoa((i+j)%4096), value)
		}
		f.ApplyBatch(logs)
	}
}

// TestFSMWakesAppliedWatchers: a caller watching applied is woken by the
// next apply, and by a restore, each watch once; a watch made after an
// apply is not woken by it.
func TestFSMWakesAppliedWatchers(t *testing.T) {
	f := newFSM()
	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	moved, done := f.watchApplied()
	if woken(moved) {
		t.Fatal("watch woken before anything was applied")
	}
	f.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: encodePut("k", []byte("v"))}})
	if !woken(moved) {
		t.Fatal("watch not woken by an apply")
	}
	done()

	later, done := f.watchApplied()
	if woken(later) {
		t.Fatal("a watch made after the apply was woken by it")
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !woken(later) {
		t.Fatal("watch not woken by a restore")
	}
	done()
	if n := f.waiters.Load(); n != 0 {
		t.Errorf("%d watchers left counted after every watch was done", n)
	}
}

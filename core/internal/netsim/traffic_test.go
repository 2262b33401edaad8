package netsim

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestTrafficCountsBytes: the bytes a node writes over a link show up as
// its sent bytes and as the far node's received ones, on the network's
// per-node counters, which outlive the layers.
func TestTrafficCountsBytes(t *testing.T) {
	nw := New(3)
	a, err := Listen("127.0.0.1:0", nw, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Listen("127.0.0.1:0", nw, 1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Dial(b.Address(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 1000)
	for range 3 {
		if _, err := out.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.ReadFull(in, make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write(msg[:10]); err != nil { // the answer
		t.Fatal(err)
	}
	if _, err := io.ReadFull(out, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_ = out.Close()
	_ = in.Close()
	_ = a.Close()
	_ = b.Close()
	if got := nw.Traffic(0).Sent(); got != 3000 {
		t.Errorf("node 0 sent %d bytes, want 3000", got)
	}
	if got := nw.Traffic(1).Recv(); got != 3000 {
		t.Errorf("node 1 received %d bytes, want 3000", got)
	}
	if s, r := nw.Traffic(1).Sent(), nw.Traffic(0).Recv(); s != 10 || r != 10 {
		t.Errorf("answer: node 1 sent %d, node 0 received %d, want 10 and 10", s, r)
	}
	if got := nw.Traffic(2).Sent() + nw.Traffic(2).Recv(); got != 0 {
		t.Errorf("node 2, idle, counted %d bytes", got)
	}
	if s, r := nw.TotalTraffic(); s != 3010 || r != 3010 {
		t.Errorf("total %d sent, %d received, want 3010 each", s, r)
	}
	if nw.Traffic(3) != nil || nw.Traffic(-1) != nil {
		t.Error("a slot out of range has counters")
	}
	// A layer on no network counts on its own.
	c, err := Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Traffic() == nil {
		t.Fatal("a layer on no network has no counters")
	}
}

// nopConn is a connection whose writes go nowhere: what a write costs in
// the stream layer itself.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkTrackedWrite is the stream layer's cost per unshaped write, the
// path every Raft message of a node takes (the traffic count's atomic add
// included).
func BenchmarkTrackedWrite(b *testing.B) {
	nw := New(3)
	s, err := Listen("127.0.0.1:0", nw, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tc := &trackedConn{Conn: nopConn{}, s: s, local: 0}
	tc.remote.Store(1)
	p := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_, _ = tc.Write(p)
	}
}

// BenchmarkTrackedWriteParallel: writes of several connections of one
// node at once, which share its counters.
func BenchmarkTrackedWriteParallel(b *testing.B) {
	nw := New(3)
	s, err := Listen("127.0.0.1:0", nw, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := make([]byte, 128)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		tc := &trackedConn{Conn: nopConn{}, s: s, local: 0}
		tc.remote.Store(1)
		for pb.Next() {
			_, _ = tc.Write(p)
		}
	})
}

package netsim

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestStreamLayerRefusesNonLoopback(t *testing.T) {
	s, err := Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, addr := range []string{"10.0.0.1:80", "example.com:80", "0.0.0.0:1"} {
		if c, err := s.Dial(raft.ServerAddress(addr), time.Second); err == nil {
			c.Close()
			t.Errorf("Dial(%s) succeeded", addr)
		}
	}
}

func TestStreamLayerCloseCutsConnections(t *testing.T) {
	a, err := Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	out, err := a.Dial(b.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The peer sees the dialled connection cut, as after a crash.
	if _, err := in.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer read after Close: %v, want EOF", err)
	}
	if _, err := a.Dial(b.addr, time.Second); err == nil {
		t.Error("Dial after Close succeeded")
	}

	if got := b.handlers.Load(); got != 1 {
		t.Fatalf("%d open accepted connections, want 1", got)
	}
	in.Close()
	b.WaitHandlers(time.Second)
	if got := b.handlers.Load(); got != 0 {
		t.Fatalf("%d open accepted connections after the owner closed it, want 0", got)
	}
}

// TestStreamLayerTellsWhenAPeerCloses checks what fast failover hears: a
// peer closing a connection it dialled, or its whole layer going down as in
// a crash, is told to the accepting layer once; a partition's cut and the
// acceptor's own close are not.
func TestStreamLayerTellsWhenAPeerCloses(t *testing.T) {
	cases := []struct {
		name string
		act  func(nw *Network, dialer *Layer, out, in net.Conn)
		want int64
	}{
		{"peer closes the connection", func(_ *Network, _ *Layer, out, _ net.Conn) { out.Close() }, 1},
		{"peer crashes", func(_ *Network, dialer *Layer, _, _ net.Conn) { dialer.Close() }, 1},
		{"partition", func(nw *Network, _ *Layer, _, _ net.Conn) { nw.Isolate(0) }, 0},
		{"acceptor closes", func(_ *Network, _ *Layer, _, in net.Conn) { in.Close() }, 0},
	}
	// Each case runs a few times: which end of a partitioned connection is
	// cut first varies.
	eachKind(t, func(t *testing.T, fresh string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for range 8 {
					peerCloseRound(t, fresh, tc.act, tc.want)
				}
			})
		}
	})
}

func peerCloseRound(t *testing.T, fresh string, act func(nw *Network, dialer *Layer, out, in net.Conn), want int64) {
	t.Helper()
	nw, a, b, out, in := layerPair(t, fresh)
	var told atomic.Int64
	hook := func() { told.Add(1) }
	b.OnPeerGone(hook)
	a.OnPeerGone(hook) // the dialer's end must never tell

	// Raft's handler is always reading an accepted connection, so
	// the read is under way when the cut comes.
	read := make(chan error, 1)
	go func() {
		_, err := in.Read(make([]byte, 1))
		read <- err
	}()
	time.Sleep(time.Millisecond)
	act(nw, a, out, in)
	if err := <-read; err == nil {
		t.Fatal("read after the cut succeeded")
	}
	_, _ = out.Read(make([]byte, 1))
	if got := told.Load(); got != want {
		t.Errorf("OnPeerGone told %d times, want %d", got, want)
	}
}

func TestStreamLayerKnowsTheLinksRoundTrip(t *testing.T) {
	nw := New(2)
	a, err := Listen("127.0.0.1:0", nw, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen("127.0.0.1:0", nw, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	alone, err := Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()

	if rtt, ok := a.RoundTrip(b.Address()); !ok || rtt != 0 {
		t.Errorf("unshaped link: RoundTrip = %v, %v; want 0, true", rtt, ok)
	}
	nw.SetLink(0, 1, Link{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond})
	nw.SetLink(1, 0, Link{Delay: time.Millisecond})
	if rtt, ok := a.RoundTrip(b.Address()); !ok || rtt != 5*time.Millisecond {
		t.Errorf("shaped link: RoundTrip = %v, %v; want 5ms (both delays and half the jitter), true", rtt, ok)
	}
	if _, ok := a.RoundTrip(alone.Address()); ok {
		t.Error("RoundTrip to a layer on no network claims to know it")
	}
	if _, ok := alone.RoundTrip(a.Address()); ok {
		t.Error("RoundTrip from a layer on no network claims to know it")
	}
}

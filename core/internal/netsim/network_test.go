package netsim

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: a closed
// layer and its network leave no shaper or connection goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// eachKind runs f as a subtest for each kind of socket a layer listens
// on, handing it the fresh address that makes one.
func eachKind(t *testing.T, f func(t *testing.T, fresh string)) {
	kinds := []string{FreshTCP}
	if UnixLinks {
		kinds = append(kinds, FreshUnix)
	}
	for _, k := range kinds {
		name := map[string]string{FreshTCP: "tcp", FreshUnix: "unix"}[k]
		t.Run(name, func(t *testing.T) { f(t, k) })
	}
}

// linkedPair is two stream layers on nodes 0 and 1 of one network, each
// listening on a fresh address of the kind fresh, and a connection dialled
// from the first to the second.
func linkedPair(t *testing.T, fresh string) (nw *Network, out, in io.ReadWriteCloser) {
	t.Helper()
	nw, _, _, o, i := layerPair(t, fresh)
	return nw, o, i
}

// layerPair is linkedPair with the layers: a on node 0 dialled, b on node 1
// accepted. All is closed when the test ends.
func layerPair(t *testing.T, fresh string) (nw *Network, a, b *Layer, out, in net.Conn) {
	t.Helper()
	nw = New(2)
	a, err := Listen(fresh, nw, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err = Listen(fresh, nw, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
		nw.Wait()
	})
	if out, err = a.Dial(b.addr, time.Second); err != nil {
		t.Fatal(err)
	}
	if in, err = b.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close(); in.Close() })
	return nw, a, b, out, in
}

func TestShapedLinkDelaysInOrder(t *testing.T) { eachKind(t, testShapedLinkDelaysInOrder) }

func testShapedLinkDelaysInOrder(t *testing.T, fresh string) {
	nw, out, in := linkedPair(t, fresh)
	const delay = 30 * time.Millisecond
	nw.SetLink(0, 1, Link{Delay: delay, Jitter: 5 * time.Millisecond})

	start := time.Now()
	var want []byte
	buf := make([]byte, 4)
	for i := range 50 {
		msg := []byte(strconv.Itoa(1000 + i))
		want = append(want, msg...)
		copy(buf, msg)
		if _, err := out.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took >= delay {
		t.Errorf("50 writes took %v: the writer waits out the delay instead of pipelining", took)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(in, got); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("bytes arrived after %v, want at least %v", took, delay)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q: bytes reordered or the caller's buffer reused", got, want)
	}

	// The accepting end knows which node dialled it, so the answers
	// are shaped by the link back.
	if got := nw.remote(in.(*trackedConn)); got != 0 {
		t.Errorf("the accepted connection comes from node %d, want 0", got)
	}

	// The other direction stays unshaped, and loss shows up as a
	// retransmission delay.
	nw.SetLink(0, 1, Link{Loss: 1})
	start = time.Now()
	if _, err := out.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(in, buf[:1]); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < minRetransmit {
		t.Errorf("a lost write arrived after %v, want at least %v", took, minRetransmit)
	}
}

func TestPartitionRefusesDialsAndCutsConnections(t *testing.T) {
	eachKind(t, testPartitionRefusesDialsAndCutsConnections)
}

func testPartitionRefusesDialsAndCutsConnections(t *testing.T, fresh string) {
	nw, out, in := linkedPair(t, fresh)
	nw.Isolate(1)
	if _, err := in.Read(make([]byte, 1)); err == nil {
		t.Error("read on a connection across a partition succeeded")
	}
	if _, err := out.Write([]byte("x")); err == nil {
		// The write may land in the socket buffer before the cut is seen;
		// the next one must fail.
		time.Sleep(10 * time.Millisecond)
		if _, err := out.Write([]byte("x")); err == nil {
			t.Error("writes on a cut connection succeed")
		}
	}
	var addr raft.ServerAddress
	var from *Layer
	nw.mu.Lock()
	for s := range nw.layers {
		if s.node == 0 {
			from = s
		} else {
			addr = s.addr
		}
	}
	nw.mu.Unlock()
	if _, err := from.Dial(addr, time.Second); !errors.Is(err, ErrPartitioned) {
		t.Errorf("dial across a partition: err = %v, want ErrPartitioned", err)
	}
	nw.Heal()
	c, err := from.Dial(addr, time.Second)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	c.Close()
}

package netsim

import (
	"testing"
	"time"
)

// addresses is how many listener addresses the network remembers.
func (nw *Network) addresses() int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return len(nw.addrs)
}

// TestAddressMapStaysBounded starts and stops many layers, as replicas
// restarting on their old address and replicas of nodes added and removed
// do, dialling between them, and checks that the network remembers the
// addresses of the open layers only: its maps are bounded by what can be
// asked for, not by the history.
func TestAddressMapStaysBounded(t *testing.T) { eachKind(t, testAddressMapStaysBounded) }

func testAddressMapStaysBounded(t *testing.T, fresh string) {
	nw := New(3)
	nw.SetLink(0, 1, Link{Delay: time.Microsecond}) // shaping on, so dials resolve their far end
	peer, err := Listen(fresh, nw, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	const rounds = 50
	for i := range rounds {
		// A replica added on a fresh address, then restarted on the same one.
		s, err := Listen(fresh, nw, 1+i%2)
		if err != nil {
			t.Fatal(err)
		}
		addr := string(s.Address())
		for range 2 {
			c, err := peer.Dial(s.Address(), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := nw.remote(c.(*trackedConn)); got != 1+i%2 {
				t.Fatalf("round %d: dialled connection's far end is node %d, want %d", i, got, 1+i%2)
			}
			c.Close()
			s.Close()
			if s, err = Listen(addr, nw, 1+i%2); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if got := nw.addresses(); got > 1 {
			t.Fatalf("after %d layers started and stopped, the network remembers %d addresses; want 1, the open layer's", 3*(i+1), got)
		}
	}
	nw.mu.Lock()
	dialers := len(nw.dialers)
	nw.mu.Unlock()
	if dialers != 0 {
		t.Errorf("%d dialled connections remembered after all were closed", dialers)
	}
}

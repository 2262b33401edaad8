// Package netsim is the simulated network a cluster's Raft traffic crosses:
// per-link delay, jitter and loss, partitions, and the stream layer each
// replica hands to raft's TCP transport, which owns its connections so
// that a crash cuts them all and tells the far end (Layer.OnPeerGone).
//
// It knows nothing of shards or replicas: nodes are slots 0..n-1, and the
// only thing it tells its user is that a peer closed a connection.
package netsim

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPartitioned is what a dial across a partition fails with; raft only
// ever sees it as a failed RPC.
var ErrPartitioned = errors.New("core: link partitioned")

// Link shapes the traffic one node sends to another. The zero Link leaves
// traffic alone.
//
// Raft talks over TCP, which never loses or reorders bytes, so the shaping
// keeps a connection's bytes in order: a write leaves the sender no earlier
// than the writes before it.
type Link struct {
	// Delay is the one-way delay added to every write, for example
	// 5 * time.Millisecond. It is real delay on the bytes: a connection
	// keeps sending while earlier writes are in flight, so delay costs
	// latency, not bandwidth.
	Delay time.Duration

	// Jitter adds a uniformly random extra delay between 0 and Jitter to
	// each write.
	Jitter time.Duration

	// Loss is the probability, from 0 to 1, that a write is lost. As TCP
	// would, the stream retransmits it: it arrives one retransmission
	// timeout late (2 × (Delay + Jitter), at least minRetransmit), and
	// everything written after it on the connection waits behind it.
	Loss float64
}

// minRetransmit is the floor of the retransmission timeout a lost write
// waits out; see Link.Loss.
const minRetransmit = 10 * time.Millisecond

func (l Link) zero() bool { return l == Link{} }

// Worst is the longest a write can take to cross the link, as far as
// timeouts need to know: its delay and jitter, plus one retransmission
// timeout when it loses writes.
func (l Link) Worst() time.Duration {
	w := l.Delay + l.Jitter
	if l.Loss > 0 {
		w += max(minRetransmit, 2*(l.Delay+l.Jitter))
	}
	return w
}

// Validate reports a link whose delay or jitter is negative or whose loss
// is not a probability.
func (l Link) Validate() error {
	if l.Delay < 0 || l.Jitter < 0 || !(l.Loss >= 0 && l.Loss <= 1) {
		return fmt.Errorf("core: invalid link %+v: delay and jitter must not be negative, loss must be within [0, 1]", l)
	}
	return nil
}

// Network is the shaping state shared by every stream layer of a cluster:
// the links between nodes, which nodes are partitioned off, and which node
// each connection end belongs to.
//
// Concurrency: links and shaped are read on every write without a lock; the
// rest changes rarely and is guarded by mu.
type Network struct {
	nodes int

	// shaped turns on the shaping path once any link has been set to a
	// non-zero value. Until then a write goes straight to the socket.
	shaped atomic.Bool
	links  []atomic.Pointer[Link] // from*nodes + to; nil means unshaped

	// defaultLink is the shaping SetAllLinks last set, which a node added
	// afterwards gets on its links; see join.
	defaultLink atomic.Pointer[Link]

	mu       sync.Mutex
	isolated []bool
	addrs    map[string]*Layer // listener address -> the open layer listening on it
	dialers  map[string]int    // local address of a dialled connection -> node index
	layers   map[*Layer]struct{}
	// peers maps the listener addresses of layers in other processes to
	// their nodes (AddPeer).
	peers map[string]int
	// offMachine lets layers dial addresses that are not loopback (see
	// AllowOffMachine).
	offMachine atomic.Bool

	// writers counts shaping goroutines, so that Close can wait for them.
	writers sync.WaitGroup

	// traffic is each node's bytes through its stream layers, by slot.
	traffic []Traffic
}

// New makes the network of a cluster of at most nodes nodes, every link
// unshaped and no node partitioned.
func New(nodes int) *Network {
	return &Network{
		nodes:    nodes,
		links:    make([]atomic.Pointer[Link], nodes*nodes),
		isolated: make([]bool, nodes),
		addrs:    make(map[string]*Layer),
		dialers:  make(map[string]int),
		layers:   make(map[*Layer]struct{}),
		peers:    make(map[string]int),
		traffic:  make([]Traffic, nodes),
	}
}

// Traffic is the bytes node's stream layers have sent and received so far,
// over every layer it has had (nil for a slot out of range): per-node
// network use, which no per-process counter of the OS gives.
func (nw *Network) Traffic(node int) *Traffic {
	if node < 0 || node >= nw.nodes {
		return nil
	}
	return &nw.traffic[node]
}

// TotalTraffic sums every node's traffic: a node process's own, whichever
// slot it was given.
func (nw *Network) TotalTraffic() (sent, recv uint64) {
	for i := range nw.traffic {
		sent += nw.traffic[i].sent.Load()
		recv += nw.traffic[i].recv.Load()
	}
	return sent, recv
}

// SetDefaultLink sets the shaping a node joining later gets on its links
// (see Join); it does not change the links there are.
func (nw *Network) SetDefaultLink(l Link) { nw.defaultLink.Store(&l) }

// Join readies slot for a node that is joining: it is not partitioned, and
// its links to and from the nodes in others get the default shaping.
func (nw *Network) Join(slot int, others []int) {
	nw.mu.Lock()
	nw.isolated[slot] = false
	nw.mu.Unlock()
	for i := range nw.nodes {
		nw.SetLink(slot, i, Link{})
		nw.SetLink(i, slot, Link{})
	}
	if l := nw.defaultLink.Load(); l != nil && !l.zero() {
		for _, o := range others {
			nw.SetLink(slot, o, *l)
			nw.SetLink(o, slot, *l)
		}
	}
}

// Reachable reports whether no partition separates two nodes.
func (nw *Network) Reachable(a, b int) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return !nw.blockedLocked(a, b)
}

// SetLink shapes the traffic from one node to another from its next write
// on; the zero Link removes the shaping.
func (nw *Network) SetLink(from, to int, l Link) {
	if l.zero() {
		nw.links[from*nw.nodes+to].Store(nil)
		return
	}
	nw.links[from*nw.nodes+to].Store(&l)
	nw.shaped.Store(true)
}

// Link returns the shaping of traffic from one node to another, or the zero
// Link when either end is unknown (-1).
func (nw *Network) Link(from, to int) Link {
	if from < 0 || to < 0 {
		return Link{}
	}
	if l := nw.links[from*nw.nodes+to].Load(); l != nil {
		return *l
	}
	return Link{}
}

// RoundTrip is the worst round trip between two nodes: the Worst of the
// link each way.
func (nw *Network) RoundTrip(a, b int) time.Duration {
	return nw.Link(a, b).Worst() + nw.Link(b, a).Worst()
}

// MaxRoundTrip is the worst round trip between any two nodes, zero while
// nothing is shaped.
func (nw *Network) MaxRoundTrip() time.Duration {
	if !nw.shaped.Load() {
		return 0
	}
	var rtt time.Duration
	for a := range nw.nodes {
		for b := a + 1; b < nw.nodes; b++ {
			rtt = max(rtt, nw.RoundTrip(a, b))
		}
	}
	return rtt
}

// blockedLocked reports whether a partition separates two nodes. nw.mu must
// be held.
func (nw *Network) blockedLocked(a, b int) bool {
	if a < 0 || b < 0 || a == b {
		return false
	}
	return nw.isolated[a] || nw.isolated[b]
}

// Isolate partitions node off from every other node: dials between them fail
// from now on and the connections between them are cut.
func (nw *Network) Isolate(node int) {
	nw.mu.Lock()
	nw.isolated[node] = true
	var cut []*trackedConn
	for s := range nw.layers {
		s.mu.Lock()
		for c := range s.conns {
			if nw.blockedLocked(c.local, nw.remoteLocked(c)) {
				cut = append(cut, c)
			}
		}
		s.mu.Unlock()
	}
	nw.mu.Unlock()
	// Both ends are marked before either is closed, so that neither reads
	// the other's close as a crash.
	for _, c := range cut {
		c.severed.Store(true)
	}
	for _, c := range cut {
		c.cut()
	}
}

// Heal ends every partition. Connections cut stay cut; raft dials anew.
func (nw *Network) Heal() {
	nw.mu.Lock()
	clear(nw.isolated)
	nw.mu.Unlock()
}

// Partitioned reports which node slots Isolate has cut off, for Status:
// one lock for the whole poll rather than one per node.
func (nw *Network) Partitioned() []bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return slices.Clone(nw.isolated)
}

// Wait waits for the goroutines that delay shaped writes, once every layer
// of the network has closed.
func (nw *Network) Wait() { nw.writers.Wait() }

// remoteLocked resolves the node at the far end of c. An accepted
// connection learns it from the dialler's registration, which happens
// before the dialler writes anything, so it is known by the time the
// acceptor answers. nw.mu must be held.
func (nw *Network) remoteLocked(c *trackedConn) int {
	if r := c.remote.Load(); r >= 0 {
		return int(r)
	}
	if c.accepted {
		if n, ok := nw.dialers[c.Conn.RemoteAddr().String()]; ok {
			c.remote.Store(int32(n))
			return n
		}
	} else if l, ok := nw.addrs[c.Conn.RemoteAddr().String()]; ok {
		// Dialled before the far end's layer registered its address.
		c.remote.Store(int32(l.node))
		return l.node
	} else if n, ok := nw.peers[c.Conn.RemoteAddr().String()]; ok {
		c.remote.Store(int32(n))
		return n
	}
	return -1
}

// register records that s listens on addr. The network remembers the
// addresses of open layers only: Close forgets a layer's, so the map is
// bounded by the replicas running, however many come and go. nw.mu must
// be held.
func (nw *Network) registerLocked(addr string, s *Layer) { nw.addrs[addr] = s }

// forgetLocked drops addr unless another layer has registered it since.
// nw.mu must be held.
func (nw *Network) forgetLocked(addr string, s *Layer) {
	if nw.addrs[addr] == s {
		delete(nw.addrs, addr)
	}
}

func (nw *Network) remote(c *trackedConn) int {
	if r := c.remote.Load(); r >= 0 {
		return int(r)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.remoteLocked(c)
}

// Isolated reports whether Isolate has cut node off and no Heal has ended
// it yet.
func (nw *Network) Isolated(node int) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return node >= 0 && node < len(nw.isolated) && nw.isolated[node]
}

package core

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

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

func (l Link) validate() error {
	if l.Delay < 0 || l.Jitter < 0 || !(l.Loss >= 0 && l.Loss <= 1) {
		return fmt.Errorf("core: invalid link %+v: delay and jitter must not be negative, loss must be within [0, 1]", l)
	}
	return nil
}

// network is the shaping state shared by every stream layer of a cluster:
// the links between nodes, which nodes are partitioned off, and which node
// each connection end belongs to.
//
// Concurrency: links and shaped are read on every write without a lock; the
// rest changes rarely and is guarded by mu.
type network struct {
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
	addrNode map[string]int // listener address -> node index
	dialers  map[string]int // local address of a dialled connection -> node index
	layers   map[*streamLayer]struct{}

	// writers counts shaping goroutines, so that Close can wait for them.
	writers sync.WaitGroup
}

func newNetwork(nodes int) *network {
	return &network{
		nodes:    nodes,
		links:    make([]atomic.Pointer[Link], nodes*nodes),
		isolated: make([]bool, nodes),
		addrNode: make(map[string]int),
		dialers:  make(map[string]int),
		layers:   make(map[*streamLayer]struct{}),
	}
}

func (nw *network) setDefaultLink(l Link) { nw.defaultLink.Store(&l) }

// join readies slot for a node that is joining: it is not partitioned, and
// its links to and from the nodes in others get the default shaping.
func (nw *network) join(slot int, others []int) {
	nw.mu.Lock()
	nw.isolated[slot] = false
	nw.mu.Unlock()
	for i := range nw.nodes {
		nw.setLink(slot, i, Link{})
		nw.setLink(i, slot, Link{})
	}
	if l := nw.defaultLink.Load(); l != nil && !l.zero() {
		for _, o := range others {
			nw.setLink(slot, o, *l)
			nw.setLink(o, slot, *l)
		}
	}
}

// reachable reports whether no partition separates two nodes.
func (nw *network) reachable(a, b int) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return !nw.blockedLocked(a, b)
}

func (nw *network) setLink(from, to int, l Link) {
	if l.zero() {
		nw.links[from*nw.nodes+to].Store(nil)
		return
	}
	nw.links[from*nw.nodes+to].Store(&l)
	nw.shaped.Store(true)
}

// link returns the shaping of traffic from one node to another, or the zero
// Link when either end is unknown (-1).
func (nw *network) link(from, to int) Link {
	if from < 0 || to < 0 {
		return Link{}
	}
	if l := nw.links[from*nw.nodes+to].Load(); l != nil {
		return *l
	}
	return Link{}
}

// blockedLocked reports whether a partition separates two nodes. nw.mu must
// be held.
func (nw *network) blockedLocked(a, b int) bool {
	if a < 0 || b < 0 || a == b {
		return false
	}
	return nw.isolated[a] || nw.isolated[b]
}

// isolate partitions node off from every other node: dials between them fail
// from now on and the connections between them are cut.
func (nw *network) isolate(node int) {
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

func (nw *network) heal() {
	nw.mu.Lock()
	clear(nw.isolated)
	nw.mu.Unlock()
}

// partitioned reports which node slots isolate has cut off, for Status:
// one lock for the whole poll rather than one per node.
func (nw *network) partitioned() []bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return slices.Clone(nw.isolated)
}

// remoteLocked resolves the node at the far end of c. An accepted
// connection learns it from the dialler's registration, which happens
// before the dialler writes anything, so it is known by the time the
// acceptor answers. nw.mu must be held.
func (nw *network) remoteLocked(c *trackedConn) int {
	if r := c.remote.Load(); r >= 0 {
		return int(r)
	}
	if n, ok := nw.dialers[c.Conn.RemoteAddr().String()]; ok {
		c.remote.Store(int32(n))
		return n
	}
	return -1
}

func (nw *network) remote(c *trackedConn) int {
	if r := c.remote.Load(); r >= 0 {
		return int(r)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.remoteLocked(c)
}

// shaper delays one connection's writes. It exists only once shaping is on,
// and its goroutine releases the writes in order, each at its due time.
type shaper struct {
	conn net.Conn

	mu      sync.Mutex
	queue   []pendingWrite
	last    time.Time // due time of the latest write queued
	err     error     // the socket's write error, returned to later writes
	stopped bool

	wake chan struct{} // capacity 1
	stop chan struct{}
}

type pendingWrite struct {
	due  time.Time
	data []byte
}

func startShaper(nw *network, conn net.Conn) *shaper {
	sh := &shaper{conn: conn, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	nw.writers.Add(1)
	go func() {
		defer nw.writers.Done()
		sh.run()
	}()
	return sh
}

// enqueue copies p, since the caller may reuse it once Write returns.
func (sh *shaper) enqueue(p []byte, l Link) (int, error) {
	now := time.Now()
	due := now.Add(l.Delay)
	if l.Jitter > 0 {
		due = due.Add(rand.N(l.Jitter + 1))
	}
	if l.Loss > 0 && rand.Float64() < l.Loss {
		due = due.Add(max(minRetransmit, 2*(l.Delay+l.Jitter)))
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.err != nil {
		return 0, sh.err
	}
	if sh.stopped {
		return 0, net.ErrClosed
	}
	if due.Before(sh.last) {
		due = sh.last
	}
	sh.last = due
	sh.queue = append(sh.queue, pendingWrite{due: due, data: append([]byte(nil), p...)})
	select {
	case sh.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (sh *shaper) run() {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		sh.mu.Lock()
		if len(sh.queue) == 0 {
			sh.mu.Unlock()
			select {
			case <-sh.wake:
				continue
			case <-sh.stop:
				return
			}
		}
		head := sh.queue[0]
		if wait := time.Until(head.due); wait > 0 {
			sh.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-sh.stop:
				return
			}
			continue
		}
		sh.queue[0] = pendingWrite{}
		sh.queue = sh.queue[1:]
		sh.mu.Unlock()
		if _, err := sh.conn.Write(head.data); err != nil {
			sh.mu.Lock()
			sh.err = err
			sh.queue = nil
			sh.mu.Unlock()
			_ = sh.conn.Close()
			return
		}
	}
}

// close ends the goroutine; writes still queued are lost, as they would be
// when a connection is cut.
func (sh *shaper) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.stopped {
		sh.stopped = true
		close(sh.stop)
	}
}

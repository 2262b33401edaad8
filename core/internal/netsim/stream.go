package netsim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// Layer is one replica's Raft network, a stream layer handed to
// raft.NewNetworkTransportWithConfig: a listener — TCP on 127.0.0.1, or a
// Unix-domain socket in Linux's abstract namespace (see FreshUnix) — plus
// every connection dialled or accepted through it.
//
// It owns those connections so that stopping a replica cuts all of them at
// once, as a crash would. Raft's transport on its own leaves pooled
// connections open after Close, and a peer's request would then hang until
// an I/O timeout.
//
// It is also where the network is shaped (see Link and Network): each
// connection knows the nodes at its two ends, a write is delayed by the
// link from its sender to the receiver, and a partition refuses dials and
// cuts connections. Each replica has a listener of its own, which keeps
// shards independent at the price of a port per replica.
//
// And it tells its owner when a peer closes a connection to it (OnPeerGone),
// which is how a follower learns at once that its leader crashed (core's
// failover.go).
type Layer struct {
	ln   net.Listener
	addr raft.ServerAddress
	nw   *Network // nil for a layer on no network
	node int      // index of the node hosting the replica, -1 when unknown

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool

	// handlers counts accepted connections that raft's handler goroutine
	// has not closed yet, so that stopping a replica can wait for those
	// goroutines to end.
	handlers atomic.Int64

	// peerGone, when set, is called when the far end of an accepted
	// connection closes it; see OnPeerGone and trackedConn.peerGone.
	peerGone func()

	// traffic counts the bytes through the layer's connections: its
	// node's counters on the network (Network.Traffic), which outlive the
	// layer, or the layer's own on no network.
	traffic *Traffic
}

// Traffic counts the bytes a node's stream layers carry: what a node sends
// and receives over its Raft links. Linux keeps no per-process network
// counters, so this is where a node's network use is measured. A read or
// a write costs one atomic add.
type Traffic struct {
	sent, recv atomic.Uint64
	// The two counters are written from different goroutines (raft's
	// reader and writer of each connection); pad them apart from the
	// next node's.
	_ [48]byte
}

// Sent and Recv are the bytes written to and read from the node's
// connections so far.
func (t *Traffic) Sent() uint64 { return t.sent.Load() }
func (t *Traffic) Recv() uint64 { return t.recv.Load() }

var _ raft.StreamLayer = (*Layer)(nil)

// rebindAttempts and rebindWait cover a restarted replica binding its old
// port while the kernel finishes releasing it.
const (
	rebindAttempts = 50
	rebindWait     = 10 * time.Millisecond
)

// The addresses Listen takes for a fresh listener.
const (
	// FreshTCP is a free TCP port on 127.0.0.1.
	FreshTCP = "127.0.0.1:0"
	// FreshUnix is a new name in Linux's abstract Unix-socket namespace,
	// "@phantom.PID.N": a socket with no file behind it, gone with its
	// last descriptor, reachable only from this machine (and network
	// namespace). A Unix stream carries the same bytes through the kernel
	// as TCP on loopback, with the same copies, buffers and wake-ups, but
	// without the IP stack that loopback runs each segment through: for
	// the seed's 20 nodes sharing one machine that stack was about a tenth
	// of the CPU per write, a cost of the test set-up rather than of the
	// database. Linux only (UnixLinks).
	FreshUnix = "@"
)

// UnixLinks reports whether this system has the abstract Unix sockets
// FreshUnix needs.
const UnixLinks = runtime.GOOS == "linux"

// unixNames numbers the abstract names this process binds.
var unixNames atomic.Uint64

// unixName is a new abstract socket name, unique on the machine: the
// process id keeps two processes apart, the counter one process's sockets.
func unixName() string {
	return fmt.Sprintf("@phantom.%d.%d", os.Getpid(), unixNames.Add(1))
}

// isUnix reports whether address names a Unix socket (an abstract one; a
// TCP address never starts with '@').
func isUnix(address string) bool { return strings.HasPrefix(address, "@") }

// Listen listens on addr (FreshTCP or FreshUnix for a fresh address, or
// one a layer had before, to restart on it) for node of nw; nw may be nil,
// and node -1, for a layer on no network, where nothing is shaped or
// partitioned.
func Listen(addr string, nw *Network, node int) (*Layer, error) {
	s := &Layer{nw: nw, node: node, conns: make(map[*trackedConn]struct{})}
	if nw != nil && node >= 0 && node < nw.nodes {
		s.traffic = &nw.traffic[node]
	} else {
		s.traffic = new(Traffic)
	}
	// A replica restarting on its old address is registered before it
	// binds, so that a peer dialling it the moment it binds knows which
	// node answers. A fresh port is unknown to everyone until returned.
	fixed := addr != FreshTCP && addr != FreshUnix
	network := "tcp"
	if addr == FreshUnix {
		addr = unixName()
	}
	if isUnix(addr) {
		network = "unix"
	}
	if fixed && nw != nil {
		nw.mu.Lock()
		nw.registerLocked(addr, s)
		nw.mu.Unlock()
	}
	ln, err := net.Listen(network, addr)
	for i := 0; err != nil && fixed && i < rebindAttempts; i++ {
		time.Sleep(rebindWait)
		ln, err = net.Listen(network, addr)
	}
	if err != nil {
		if fixed && nw != nil {
			nw.mu.Lock()
			nw.forgetLocked(addr, s)
			nw.mu.Unlock()
		}
		return nil, fmt.Errorf("core: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.addr = raft.ServerAddress(ln.Addr().String())
	if nw != nil {
		nw.mu.Lock()
		nw.registerLocked(string(s.addr), s)
		nw.layers[s] = struct{}{}
		nw.mu.Unlock()
	}
	return s, nil
}

// Accept implements net.Listener for raft's transport.
func (s *Layer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c, true, -1)
}

// Dial implements raft.StreamLayer. It only dials loopback addresses and
// abstract Unix sockets: the cluster lives in one process and must never
// reach outside the machine — unless the network is a node process's
// (AllowOffMachine).
func (s *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	unix := isUnix(string(address))
	ap, err := netip.ParseAddrPort(string(address))
	if !unix && (err != nil || !ap.Addr().IsLoopback()) && (s.nw == nil || !s.nw.offMachine.Load()) {
		return nil, fmt.Errorf("core: refusing to dial %q: not a loopback address", address)
	}
	if s.isClosed() {
		return nil, fmt.Errorf("core: dial %s: %w", address, net.ErrClosed)
	}
	remote := -1
	if s.nw != nil {
		s.nw.mu.Lock()
		if l, ok := s.nw.addrs[string(address)]; ok {
			remote = l.node
		} else if n, ok := s.nw.peers[string(address)]; ok {
			remote = n
		}
		blocked := s.nw.blockedLocked(s.node, remote)
		s.nw.mu.Unlock()
		if blocked {
			return nil, fmt.Errorf("core: dial %s: %w", address, ErrPartitioned)
		}
	}
	d := net.Dialer{Timeout: timeout}
	network := "tcp"
	if unix {
		// A dialled Unix socket is nameless unless bound: bind it to a
		// name of its own, so that the acceptor can tell it apart from
		// others and find the node it comes from (Network.dialers), as a
		// TCP connection's source port lets it.
		network = "unix"
		d.LocalAddr = &net.UnixAddr{Net: "unix", Name: unixName()}
	}
	c, err := d.Dial(network, string(address))
	if err != nil {
		return nil, err
	}
	return s.track(c, false, remote)
}

// Addr implements net.Listener.
func (s *Layer) Addr() net.Addr { return s.ln.Addr() }

// Address is the address raft's peers reach this layer on.
func (s *Layer) Address() raft.ServerAddress { return s.addr }

// Traffic is what the layer's connections have carried: its node's
// counters, shared with the node's other layers, on a network.
func (s *Layer) Traffic() *Traffic { return s.traffic }

// OnPeerGone has f called each time the far end of a connection accepted
// here closes it (see trackedConn.peerGone). Call it before handing the
// layer to raft's transport, which starts the goroutines that call f; f
// runs on them, may run concurrently with itself, and must not block.
func (s *Layer) OnPeerGone(f func()) { s.peerGone = f }

// Close stops accepting and dialling and cuts every connection. Raft's
// transport calls it from its own Close.
func (s *Layer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()

	if s.nw != nil {
		s.nw.mu.Lock()
		delete(s.nw.layers, s)
		s.nw.forgetLocked(string(s.addr), s)
		for c := range conns {
			if !c.accepted {
				delete(s.nw.dialers, c.Conn.LocalAddr().String())
			}
		}
		s.nw.mu.Unlock()
	}
	err := s.ln.Close()
	for c := range conns {
		// Cut the socket, not the trackedConn: the owner's own Close
		// must still run to account for its handler.
		c.cut()
	}
	return err
}

// WaitHandlers waits until raft's handlers of accepted connections have
// returned, or until timeout, which only a raft bug would reach; a stop must
// not hang on one.
func (s *Layer) WaitHandlers(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for s.handlers.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func (s *Layer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a connection. A dialled one is also registered with the
// network under its local address, so that the acceptor can tell which node
// it comes from, and is refused if a partition came up while it was dialled.
func (s *Layer) track(c net.Conn, accepted bool, remote int) (net.Conn, error) {
	tc := &trackedConn{Conn: c, s: s, accepted: accepted, local: s.node}
	tc.remote.Store(int32(remote))
	if s.nw != nil && !accepted {
		s.nw.mu.Lock()
		if remote < 0 {
			remote = s.nw.remoteLocked(tc)
		}
		blocked := s.nw.blockedLocked(s.node, remote)
		if !blocked {
			s.nw.dialers[c.LocalAddr().String()] = s.node
		}
		s.nw.mu.Unlock()
		if blocked {
			_ = c.Close()
			return nil, ErrPartitioned
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		if s.nw != nil && !accepted {
			s.nw.mu.Lock()
			delete(s.nw.dialers, c.LocalAddr().String())
			s.nw.mu.Unlock()
		}
		return nil, net.ErrClosed
	}
	s.conns[tc] = struct{}{}
	if accepted {
		s.handlers.Add(1)
	}
	return tc, nil
}

func (s *Layer) untrack(tc *trackedConn) {
	s.mu.Lock()
	delete(s.conns, tc) // no-op once Close has taken the map
	s.mu.Unlock()
	if s.nw != nil && !tc.accepted {
		s.nw.mu.Lock()
		delete(s.nw.dialers, tc.Conn.LocalAddr().String())
		s.nw.mu.Unlock()
	}
	if tc.accepted {
		s.handlers.Add(-1)
	}
}

// trackedConn is a connection the stream layer can cut and shape.
//
// Concurrency: raft writes to a connection from one goroutine at a time;
// cut may run concurrently with a write.
type trackedConn struct {
	net.Conn
	s        *Layer
	accepted bool
	local    int          // node index of this end
	remote   atomic.Int32 // node index of the far end, -1 until known
	once     sync.Once

	// severed is set before this end is cut by its own layer or by a
	// partition, so that a read failing on it is not taken for the far
	// end closing, and no shaper starts on it.
	severed atomic.Bool

	shaperMu sync.Mutex
	shaper   atomic.Pointer[shaper] // nil until a write meets shaping
}

// Read reads from the socket; see peerGone.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.s.traffic.recv.Add(uint64(n))
	}
	if err != nil {
		c.peerGone(err)
	}
	return n, err
}

// peerGone tells the layer's OnPeerGone callback when err, from a read or a write
// on an accepted connection, says that the far end closed it: EOF, a reset
// or a broken pipe. That is what a peer's crash looks like from here: the
// kernel closes a dead process's sockets. A partition cuts both ends and
// tells nothing, as a real one would say nothing. Raft's handler goroutine
// is always reading an accepted connection or writing an answer on it, so
// the news comes at once.
func (c *trackedConn) peerGone(err error) {
	if !c.accepted || c.severed.Load() ||
		!(err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return
	}
	if f := c.s.peerGone; f != nil {
		f()
	}
}

// Write sends p straight to the socket until shaping is first turned on.
// From then on every write of the connection goes through its shaper, even
// over an unshaped link, so that none overtakes one still delayed.
func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.write(p)
	if n > 0 {
		c.s.traffic.sent.Add(uint64(n))
	}
	if err != nil {
		c.peerGone(err)
	}
	return n, err
}

func (c *trackedConn) write(p []byte) (int, error) {
	sh := c.shaper.Load()
	if sh == nil {
		if c.s.nw == nil || !c.s.nw.shaped.Load() {
			return c.Conn.Write(p)
		}
		if sh = c.startShaper(); sh == nil {
			return 0, net.ErrClosed
		}
	}
	return sh.enqueue(p, c.s.nw.Link(c.local, c.s.nw.remote(c)))
}

func (c *trackedConn) startShaper() *shaper {
	c.shaperMu.Lock()
	defer c.shaperMu.Unlock()
	if c.severed.Load() {
		return nil
	}
	if sh := c.shaper.Load(); sh != nil {
		return sh
	}
	sh := startShaper(c.s.nw, c.Conn)
	c.shaper.Store(sh)
	return sh
}

// SetDeadline, SetReadDeadline and SetWriteDeadline push a deadline back
// by the link's simulated round trip (RoundTrip, both ways at the time of
// the call). Raft's transport bounds each RPC's I/O with a timeout sized
// for loopback; a real transport on a slow network would be given one
// sized for it, and without this a delay longer than half the timeout
// would fail every RPC. The zero time, no deadline, stays as it is.
func (c *trackedConn) SetDeadline(t time.Time) error {
	return c.Conn.SetDeadline(c.stretch(t))
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.stretch(t))
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.stretch(t))
}

func (c *trackedConn) stretch(t time.Time) time.Time {
	nw := c.s.nw
	if t.IsZero() || nw == nil || !nw.shaped.Load() {
		return t
	}
	remote := nw.remote(c)
	if c.local < 0 || remote < 0 {
		return t
	}
	return t.Add(nw.RoundTrip(c.local, remote))
}

// cut closes the socket and stops the shaper, leaving the accounting to
// Close.
func (c *trackedConn) cut() {
	c.severed.Store(true)
	_ = c.Conn.Close()
	c.shaperMu.Lock()
	sh := c.shaper.Load()
	c.shaperMu.Unlock()
	if sh != nil {
		sh.close()
	}
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.cut()
	c.once.Do(func() { c.s.untrack(c) })
	return err
}

// RoundTrip is the round trip the network is set to have, on average,
// between this layer's node and the one listening on address: each way's
// delay plus half its jitter, no more than a sample of heartbeats would see
// on an idle machine. ok is false when either node is unknown, as on a
// layer on no network.
func (s *Layer) RoundTrip(address raft.ServerAddress) (rtt time.Duration, ok bool) {
	nw := s.nw
	if nw == nil || s.node < 0 {
		return 0, false
	}
	nw.mu.Lock()
	l, found := nw.addrs[string(address)]
	nw.mu.Unlock()
	if !found || l.node < 0 {
		return 0, false
	}
	mean := func(l Link) time.Duration { return l.Delay + l.Jitter/2 }
	return mean(nw.Link(s.node, l.node)) + mean(nw.Link(l.node, s.node)), true
}

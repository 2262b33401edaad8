package core

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is one replica's Raft network, handed to
// raft.NewNetworkTransportWithConfig: a TCP listener on 127.0.0.1 plus every
// connection dialled or accepted through it.
//
// It owns those connections so that stopping a replica cuts all of them at
// once, as a crash would. Raft's transport on its own leaves pooled
// connections open after Close, and a peer's request would then hang until
// an I/O timeout.
//
// Network shaping goes here: per-link one-way delay, jitter, loss and
// partitions will wrap the net.Conn that Dial and Accept return (and refuse
// dials across a partition), changeable while the cluster runs. A node that
// hosts several replicas will then share one listener among them,
// multiplexed by shard.
type streamLayer struct {
	ln   net.Listener
	addr raft.ServerAddress

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool

	// handlers counts accepted connections that raft's handler goroutine
	// has not closed yet, so that stopping a replica can wait for those
	// goroutines to end.
	handlers atomic.Int64
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func listenLoopback() (*streamLayer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("core: listen on loopback: %w", err)
	}
	return &streamLayer{
		ln:    ln,
		addr:  raft.ServerAddress(ln.Addr().String()),
		conns: make(map[*trackedConn]struct{}),
	}, nil
}

// Accept implements net.Listener for raft's transport.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c, true)
}

// Dial implements raft.StreamLayer. It only dials loopback addresses: the
// cluster lives in one process and must never reach outside the machine.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(string(address))
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("core: refusing to dial %q: not a loopback address", address)
	}
	if s.isClosed() {
		return nil, fmt.Errorf("core: dial %s: %w", address, net.ErrClosed)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	return s.track(c, false)
}

// Addr implements net.Listener.
func (s *streamLayer) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting and dialling and cuts every connection. Raft's
// transport calls it from its own Close.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()

	err := s.ln.Close()
	for c := range conns {
		// Close the socket, not the trackedConn: the owner's own Close
		// must still run to account for its handler.
		_ = c.Conn.Close()
	}
	return err
}

// waitHandlers waits until raft's handlers of accepted connections have
// returned, or until timeout, which only a raft bug would reach; a stop must
// not hang on one.
func (s *streamLayer) waitHandlers(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for s.handlers.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func (s *streamLayer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *streamLayer) track(c net.Conn, accepted bool) (net.Conn, error) {
	tc := &trackedConn{Conn: c, s: s, accepted: accepted}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.conns[tc] = struct{}{}
	if accepted {
		s.handlers.Add(1)
	}
	return tc, nil
}

func (s *streamLayer) untrack(tc *trackedConn) {
	s.mu.Lock()
	delete(s.conns, tc) // no-op once Close has taken the map
	s.mu.Unlock()
	if tc.accepted {
		s.handlers.Add(-1)
	}
}

// trackedConn is a connection the stream layer can cut.
type trackedConn struct {
	net.Conn
	s        *streamLayer
	accepted bool
	once     sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.untrack(c) })
	return err
}

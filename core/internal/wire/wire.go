// Package wire is a raft.Transport over a stream layer (raft.StreamLayer:
// anything that dials and accepts net.Conns) with a compact binary encoding
// of its own, in place of raft's NetworkTransport and its msgpack codec,
// which spent about a quarter of a replica's CPU on reflection.
//
// It keeps NetworkTransport's semantics, which raft relies on: a pool of up
// to MaxPool idle connections per peer, one RPC at a time on each; each
// RPC's I/O bounded by Timeout (InstallSnapshot's scaled by its size); a
// connection that failed is closed, never pooled again; heartbeats answered
// by the heartbeat handler on the connection's own goroutine, never queued
// behind the log; append pipelines of up to MaxRPCsInFlight appends on a
// connection of their own, answered in order; InstallSnapshot streaming the
// snapshot after its header on a connection that is then closed; Close
// stopping the listener and every connection. One addition: Fence refuses
// a gone leader's appends for a while (see there).
//
// Encoding: each connection opens with a preamble; a request is a frame
// (type, body length, body; see codec.go), followed, for InstallSnapshot, by
// the snapshot's bytes; a response is a frame of status and body. Integers
// are varints, byte slices length-prefixed. Bodies are read into a buffer
// reused per connection and decoded into messages that keep no slice of
// it: each received entry's data is a slice of its own, because raft's log
// store keeps entries and the core's state machine keeps their data as
// values (see decodeRequest). Headers' IDs and addresses, the same on every
// message of a connection, are copied once per connection.
package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// bufSize is each connection's read and write buffer. Larger writes (a big
// entry's data) bypass the buffer, so it need only hold a frame's fields.
const bufSize = 16 << 10

// Config configures a Transport. Stream is required; the rest default as
// NetworkTransport's do.
type Config struct {
	Stream raft.StreamLayer
	// MaxPool is how many idle connections to keep per peer; 0 keeps none.
	MaxPool int
	// MaxRPCsInFlight bounds the appends an append pipeline has sent and
	// not had answered; below 2 there are no pipelines.
	MaxRPCsInFlight int
	// Timeout bounds each RPC's I/O; 0 is none.
	Timeout time.Duration
	// TimeoutScale is the snapshot bytes per Timeout an InstallSnapshot may
	// take; 0 means 256 KiB, NetworkTransport's default.
	TimeoutScale int64
}

// Transport implements raft.Transport, raft.WithPreVote and raft.WithClose.
type Transport struct {
	stream       raft.StreamLayer
	maxPool      int
	maxInFlight  int
	timeout      time.Duration
	timeoutScale int64

	consumer chan raft.RPC

	encoded, decoded atomic.Pointer[peerCode] // see EncodePeer, DecodePeer

	fence atomic.Pointer[fence] // see Fence; nil when none

	// preVoteGranted and preVoteRefused are when raft last answered a
	// pre-vote request, in UnixNano; see PreVotesAnswered.
	preVoteGranted, preVoteRefused atomic.Int64

	hbMu sync.Mutex
	hb   func(raft.RPC)

	poolMu sync.Mutex
	pool   map[raft.ServerAddress][]*conn
	served map[net.Conn]struct{} // accepted connections being served; nil once closed

	shutdownMu sync.Mutex
	isShut     bool
	shutdown   chan struct{}
	listening  chan struct{} // closed when the accept loop has returned
}

// New starts a transport listening on cfg.Stream.
func New(cfg Config) *Transport {
	t := &Transport{
		stream:       cfg.Stream,
		maxPool:      cfg.MaxPool,
		maxInFlight:  cfg.MaxRPCsInFlight,
		timeout:      cfg.Timeout,
		timeoutScale: cfg.TimeoutScale,
		consumer:     make(chan raft.RPC),
		pool:         make(map[raft.ServerAddress][]*conn),
		served:       make(map[net.Conn]struct{}),
		shutdown:     make(chan struct{}),
		listening:    make(chan struct{}),
	}
	if t.timeoutScale <= 0 {
		t.timeoutScale = raft.DefaultTimeoutScale
	}
	go t.listen()
	return t
}

// Consumer implements raft.Transport.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumer }

// LocalAddr implements raft.Transport.
func (t *Transport) LocalAddr() raft.ServerAddress {
	return raft.ServerAddress(t.stream.Addr().String())
}

// EncodePeer implements raft.Transport. raft encodes its own address into
// the header of every RPC it sends, so the last encoding is kept and handed
// out again: nothing modifies it (wire copies it into the frame), and its
// capacity is its length, so an append to it copies.
func (t *Transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	if p := t.encoded.Load(); p != nil && p.addr == addr {
		return p.b
	}
	b := []byte(addr)
	b = b[:len(b):len(b)]
	t.encoded.Store(&peerCode{addr: addr, b: b})
	return b
}

// DecodePeer implements raft.Transport. A follower decodes its leader's
// address from every append, so the last decoding is kept and handed out
// again while the bytes are the same.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress {
	if p := t.decoded.Load(); p != nil && string(p.addr) == string(b) {
		return p.addr
	}
	addr := raft.ServerAddress(b)
	t.decoded.Store(&peerCode{addr: addr})
	return addr
}

// peerCode is an address and its encoding, for EncodePeer and DecodePeer.
type peerCode struct {
	addr raft.ServerAddress
	b    []byte
}

// SetHeartbeatHandler implements raft.Transport: fn answers heartbeats on
// the goroutine that read them.
func (t *Transport) SetHeartbeatHandler(fn func(raft.RPC)) {
	t.hbMu.Lock()
	t.hb = fn
	t.hbMu.Unlock()
}

// IsShutdown reports whether Close has been called.
func (t *Transport) IsShutdown() bool {
	select {
	case <-t.shutdown:
		return true
	default:
		return false
	}
}

// Close implements raft.WithClose. It closes the stream layer, the pooled
// connections and the accepted ones (whose handlers then return), and
// returns once the accept loop has. An RPC under way on a dialled
// connection fails when the stream layer cuts it (netsim's does) or at its
// timeout.
func (t *Transport) Close() error {
	t.shutdownMu.Lock()
	if t.isShut {
		t.shutdownMu.Unlock()
		return nil
	}
	t.isShut = true
	close(t.shutdown)
	t.shutdownMu.Unlock()
	err := t.stream.Close()
	t.poolMu.Lock()
	for target, cs := range t.pool {
		for _, c := range cs {
			c.close()
		}
		delete(t.pool, target)
	}
	served := t.served
	t.served = nil
	t.poolMu.Unlock()
	for nc := range served {
		_ = nc.Close()
	}
	<-t.listening
	return err
}

// conn is a dialled connection, used by one RPC or pipeline at a time.
type conn struct {
	target raft.ServerAddress
	c      net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	buf    []byte // response bodies
	hc     headerCache
}

func (c *conn) close() { _ = c.c.Close() }

func (t *Transport) getConn(target raft.ServerAddress) (*conn, error) {
	t.poolMu.Lock()
	if cs := t.pool[target]; len(cs) > 0 {
		c := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		t.pool[target] = cs[:len(cs)-1]
		t.poolMu.Unlock()
		return c, nil
	}
	t.poolMu.Unlock()
	if t.IsShutdown() {
		return nil, raft.ErrTransportShutdown
	}
	nc, err := t.stream.Dial(target, t.timeout)
	if err != nil {
		return nil, err
	}
	c := &conn{target: target, c: nc, r: bufio.NewReaderSize(nc, bufSize), w: bufio.NewWriterSize(nc, bufSize)}
	// Sent with the first RPC's flush.
	_, _ = c.w.WriteString(preamble)
	return c, nil
}

func (t *Transport) returnConn(c *conn) {
	t.poolMu.Lock()
	defer t.poolMu.Unlock()
	if t.IsShutdown() || len(t.pool[c.target]) >= t.maxPool {
		c.close()
		return
	}
	t.pool[c.target] = append(t.pool[c.target], c)
}

// maxWriteBuf is the largest a connection's write buffer grows to, so
// that an append of many small entries still goes out in one write.
const maxWriteBuf = 256 << 10

// send writes a request frame and flushes it. A frame larger than the
// write buffer first grows the buffer, up to maxWriteBuf, so that it goes
// out in one write rather than one per buffer-full: a connection carrying
// appends soon has a buffer that fits them, one carrying heartbeats keeps
// a small one.
func (c *conn) send(args any) error {
	typ, err := requestType(args)
	if err != nil {
		return err
	}
	if size, err := frameSize(args); err == nil && size > c.w.Available() && c.w.Size() < maxWriteBuf {
		if err := c.w.Flush(); err != nil {
			return err
		}
		if size > c.w.Size() {
			c.w = bufio.NewWriterSize(c.c, min(max(size, 2*c.w.Size()), maxWriteBuf))
		}
	}
	if err := writeFrame(c.w, typ, args); err != nil {
		return err
	}
	return c.w.Flush()
}

// receive reads a response frame into resp. An error the peer answered
// with leaves the connection usable (ok true); any other does not.
func (c *conn) receive(resp any) (ok bool, err error) {
	var kind byte
	var body []byte
	kind, body, c.buf, _, err = readFrame(c.r, c.buf, bufSize)
	if err != nil {
		return false, err
	}
	switch kind {
	case statusOK:
		if err := decodeResponse(body, resp, &c.hc); err != nil {
			return false, err
		}
		return true, nil
	case statusErr:
		msg, err := decodeError(body)
		if err != nil {
			return false, err
		}
		return true, errors.New(msg)
	}
	return false, fmt.Errorf("wire: unknown response status %d", kind)
}

// call runs one RPC on a pooled connection.
func (t *Transport) call(target raft.ServerAddress, args, resp any) error {
	c, err := t.getConn(target)
	if err != nil {
		return err
	}
	if t.timeout > 0 {
		_ = c.c.SetDeadline(time.Now().Add(t.timeout))
	}
	if err := c.send(args); err != nil {
		c.close()
		return err
	}
	ok, err := c.receive(resp)
	if ok {
		t.returnConn(c)
	} else {
		c.close()
	}
	return err
}

// AppendEntries implements raft.Transport.
func (t *Transport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return t.call(target, args, resp)
}

// RequestVote implements raft.Transport.
func (t *Transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.call(target, args, resp)
}

// RequestPreVote implements raft.WithPreVote.
func (t *Transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.call(target, args, resp)
}

// TimeoutNow implements raft.Transport.
func (t *Transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.call(target, args, resp)
}

// InstallSnapshot implements raft.Transport. It sends args, then exactly
// args.Size bytes of data, on a connection of its own that it closes after.
func (t *Transport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	c, err := t.getConn(target)
	if err != nil {
		return err
	}
	defer c.close()
	if t.timeout > 0 {
		timeout := max(t.timeout, t.timeout*time.Duration(args.Size/t.timeoutScale))
		_ = c.c.SetDeadline(time.Now().Add(timeout))
	}
	if err := writeFrame(c.w, typeInstallSnapshot, args); err != nil {
		return err
	}
	n, err := io.Copy(c.w, io.LimitReader(data, args.Size))
	if err != nil {
		return err
	}
	if n != args.Size {
		return fmt.Errorf("wire: snapshot of %d bytes ended after %d", args.Size, n)
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err = c.receive(resp)
	return err
}

// listen accepts connections until the transport closes.
func (t *Transport) listen() {
	defer close(t.listening)
	var delay time.Duration
	for {
		nc, err := t.stream.Accept()
		if err != nil {
			if t.IsShutdown() {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-t.shutdown:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		go t.serve(nc)
	}
}

// serve answers the RPCs arriving on an accepted connection, one at a
// time, until it fails or the transport closes. A connection that carried
// a snapshot is closed after it, as its sender closes it: raft may not have
// read the whole snapshot, and what it left would be misread as a frame.
func (t *Transport) serve(nc net.Conn) {
	defer func() { _ = nc.Close() }()
	t.poolMu.Lock()
	if t.served == nil {
		t.poolMu.Unlock()
		return
	}
	t.served[nc] = struct{}{}
	t.poolMu.Unlock()
	defer func() {
		t.poolMu.Lock()
		delete(t.served, nc) // no-op once Close has taken the map
		t.poolMu.Unlock()
	}()
	r := bufio.NewReaderSize(nc, bufSize)
	w := bufio.NewWriterSize(nc, bufSize)
	var pre [len(preamble)]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:]) != preamble {
		return
	}
	sc := &serverConn{respCh: make(chan raft.RPCResponse, 1)}
	for {
		last, err := t.serveOne(r, w, sc)
		if err != nil {
			return
		}
		if err := w.Flush(); err != nil || last {
			return
		}
	}
}

// fence is a leader whose appends a Transport refuses until a time.
type fence struct {
	addr  string
	until time.Time
}

// Fence has the transport refuse, until until, the appends, heartbeats and
// snapshots of the leader at addr: raft never sees them, as if the network
// had lost them, which raft tolerates. A follower that knows its leader is
// gone calls it before it stands for election: a gone leader's appends may
// still be on their way (written before it died, still in the sockets' or
// a pipeline's buffers), and each would count as contact with a leader and
// make raft follow it again. A later call replaces the fence; votes are
// never refused.
func (t *Transport) Fence(addr raft.ServerAddress, until time.Time) {
	t.fence.Store(&fence{addr: string(addr), until: until})
}

// fenced reports whether a request from the leader at leader is refused
// (Fence).
func (t *Transport) fenced(leader []byte) bool {
	f := t.fence.Load()
	return f != nil && f.addr == string(leader) && time.Now().Before(f.until)
}

// errFenced answers a refused request (Fence).
const errFenced = "wire: refused: this follower knows that leader is gone"

// serverConn is what serve keeps for its connection's RPCs.
type serverConn struct {
	// respCh is each RPC's: raft answers each RPC once, and the next is
	// read only after.
	respCh chan raft.RPCResponse
	buf    []byte // request bodies, see readFrame
	hc     headerCache
}

// maxReusedBuf is the largest request body read into a connection's reused
// buffer; a larger one (an append of big values) is read into a slice of
// its own, whose single entry may then keep it without a copy.
const maxReusedBuf = 256 << 10

// serveOne answers one RPC; last says the connection must close after.
func (t *Transport) serveOne(r *bufio.Reader, w *bufio.Writer, sc *serverConn) (last bool, err error) {
	typ, body, buf, owned, err := readFrame(r, sc.buf, maxReusedBuf)
	sc.buf = buf
	if err != nil {
		return false, err
	}
	cmd, err := decodeRequest(typ, body, &sc.hc, owned)
	if err != nil {
		return false, err
	}
	rpc := raft.RPC{Command: cmd, RespChan: sc.respCh}
	var hb func(raft.RPC)
	switch m := cmd.(type) {
	case *raft.InstallSnapshotRequest:
		if t.fenced(leaderOf(m.RPCHeader, m.Leader)) {
			// The snapshot's bytes follow; the connection closes instead.
			return true, writeFrame(w, statusErr, errFenced)
		}
		rpc.Reader = io.LimitReader(r, m.Size)
		last = true
	case *raft.AppendEntriesRequest:
		if t.fenced(leaderOf(m.RPCHeader, m.Leader)) {
			return false, writeFrame(w, statusErr, errFenced)
		}
		if isHeartbeat(m) {
			t.hbMu.Lock()
			hb = t.hb
			t.hbMu.Unlock()
		}
	}
	if hb != nil {
		hb(rpc)
	} else {
		select {
		case t.consumer <- rpc:
		case <-t.shutdown:
			return false, raft.ErrTransportShutdown
		}
	}
	var resp raft.RPCResponse
	select {
	case resp = <-sc.respCh:
	case <-t.shutdown:
		return false, raft.ErrTransportShutdown
	}
	if resp.Error != nil {
		return last, writeFrame(w, statusErr, resp.Error.Error())
	}
	if pv, ok := resp.Response.(*raft.RequestPreVoteResponse); ok {
		if pv.Granted {
			t.preVoteGranted.Store(time.Now().UnixNano())
		} else {
			t.preVoteRefused.Store(time.Now().UnixNano())
		}
	}
	return last, writeFrame(w, statusOK, resp.Response)
}

// PreVotesAnswered reports when raft last granted and last refused a peer's
// pre-vote through this transport; zero times for never. A candidate that
// was refused a pre-vote learns from them whether the other candidate of
// its shard stood since, and with what answer (the core's RetryPreVote).
func (t *Transport) PreVotesAnswered() (granted, refused time.Time) {
	at := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	return at(t.preVoteGranted.Load()), at(t.preVoteRefused.Load())
}

// isHeartbeat is NetworkTransport's test for an append its heartbeat
// handler answers: from a known leader, with nothing else in it.
func isHeartbeat(m *raft.AppendEntriesRequest) bool {
	return m.Term != 0 && leaderOf(m.RPCHeader, m.Leader) != nil && m.PrevLogEntry == 0 && m.PrevLogTerm == 0 &&
		len(m.Entries) == 0 && m.LeaderCommitIndex == 0
}

// leaderOf is the address of the leader that sent a request, as raft reads
// it: the header's, or for an older sender the request's own field.
func leaderOf(h raft.RPCHeader, leader []byte) []byte {
	if len(h.Addr) > 0 {
		return h.Addr
	}
	return leader
}

// AppendEntriesPipeline implements raft.Transport: a pipeline on a
// connection of its own, or raft.ErrPipelineReplicationNotSupported when
// MaxRPCsInFlight is below 2.
func (t *Transport) AppendEntriesPipeline(_ raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.maxInFlight < 2 {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	c, err := t.getConn(target)
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		t: t,
		c: c,
		// One append is being read while these wait, so MaxRPCsInFlight
		// are on the wire at most.
		inflight: make(chan *future, t.maxInFlight-1),
		done:     make(chan raft.AppendFuture, t.maxInFlight),
		closing:  make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go p.decode()
	return p, nil
}

// future is a pipelined append's raft.AppendFuture. err is set before the
// future is handed to the consumer, and read only after.
type future struct {
	start time.Time
	req   *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	err   error
}

func (f *future) Error() error                          { return f.err }
func (f *future) Start() time.Time                      { return f.start }
func (f *future) Request() *raft.AppendEntriesRequest   { return f.req }
func (f *future) Response() *raft.AppendEntriesResponse { return f.resp }
func (p *pipeline) Consumer() <-chan raft.AppendFuture  { return p.done }

func (p *pipeline) closed() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// pipeline is an append pipeline: raft's sender goroutine calls
// AppendEntries, which writes each append at once; decode reads the
// answers in order and hands each future to Consumer.
type pipeline struct {
	t        *Transport
	c        *conn
	inflight chan *future
	done     chan raft.AppendFuture
	closing  chan struct{}
	once     sync.Once
	exited   chan struct{} // closed when decode has returned
}

// AppendEntries implements raft.AppendPipeline. It blocks while
// MaxRPCsInFlight appends are unanswered.
func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if p.closed() {
		return nil, raft.ErrPipelineShutdown
	}
	f := &future{start: time.Now(), req: args, resp: resp}
	if t := p.t.timeout; t > 0 {
		_ = p.c.c.SetWriteDeadline(time.Now().Add(t))
	}
	if err := p.c.send(args); err != nil {
		_ = p.Close()
		return nil, err
	}
	select {
	case p.inflight <- f:
		return f, nil
	case <-p.closing:
		return nil, raft.ErrPipelineShutdown
	}
}

// decode answers the sent appends in order. After a failed read the
// connection is closed and the appends still waiting fail alike.
func (p *pipeline) decode() {
	defer close(p.exited)
	var broken error
	for {
		var f *future
		select {
		case <-p.closing:
			return
		default:
		}
		select {
		case f = <-p.inflight:
		case <-p.closing:
			return
		}
		if broken != nil {
			f.err = broken
		} else {
			if t := p.t.timeout; t > 0 {
				_ = p.c.c.SetReadDeadline(time.Now().Add(t))
			}
			ok, err := p.c.receive(f.resp)
			f.err = err
			if !ok {
				broken = err
				p.c.close()
			}
		}
		select {
		case p.done <- f:
		case <-p.closing:
			return
		}
	}
}

// Close implements raft.AppendPipeline: it closes the connection, which
// fails the appends in flight, and returns once decode has.
func (p *pipeline) Close() error {
	p.once.Do(func() {
		close(p.closing)
		p.c.close()
	})
	<-p.exited
	return nil
}

var (
	_ raft.Transport      = (*Transport)(nil)
	_ raft.WithPreVote    = (*Transport)(nil)
	_ raft.WithClose      = (*Transport)(nil)
	_ raft.AppendPipeline = (*pipeline)(nil)
	_ raft.AppendFuture   = (*future)(nil)
)

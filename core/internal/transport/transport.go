// Package transport wraps a raft transport (the core's own, package wire,
// or raft's NetworkTransport) for the core's replicas:
// it pipelines replication only over links slow enough for it to pay, keeps
// a pipeline from wedging replication when a follower refuses an append,
// asks again for a vote that failed on a dead pooled connection, and lets
// its replica's fast failover ask again for a refused pre-vote (Hooks).
package transport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// PipelineMinRTT is the round trip from which replication to a peer is
	// pipelined. A pipeline sends each new entry at once instead of after
	// the append in flight returns, which saves up to a round trip per
	// write; but it sends more, smaller appends, and on loopback, where a
	// round trip is a tenth of a millisecond, that costs about a fifth
	// more CPU per write and saves nothing noticeable.
	PipelineMinRTT = time.Millisecond
	// rttWindow is how long a heartbeat's round trip counts towards a
	// link's estimate: long enough to hold a dozen heartbeats even over a
	// slow link, short enough to follow a delay set on the link within
	// half a second.
	rttWindow = 250 * time.Millisecond
	// PipelineMaxBytes bounds the bytes of entries a pipeline has sent to
	// its follower and not yet had answered. Without it a pipeline's window
	// is counted in appends only: MaxRPCsInFlight of them, each of up to
	// MaxAppendEntries entries, which at 1 MiB values is many MiB per
	// follower held in buffers on both sides. 4 MiB still keeps a 10 ms
	// round trip busy at 400 MiB/s, more than the machine writes.
	PipelineMaxBytes = 4 << 20
	// entryOverhead is what an entry adds to an append besides its data
	// and extensions: index, term, type, append time and their encoding.
	entryOverhead = 40
)

// Hooks is how a Transport involves the replica it carries.
//
// Concurrency: raft calls the transport from many goroutines (a pre-vote
// per peer has one of its own, each peer's replication another), so each
// method may run concurrently with the others and with itself. Calls may
// come as soon as the transport is made, before raft.NewRaft has returned
// to the hooks' owner. RetryPreVote may block, but must return false
// promptly once the replica stops; the pipeline hooks must not block.
type Hooks interface {
	// RetryPreVote is asked after a peer refused a pre-vote, or the request
	// failed, whether to ask it again. It may wait until the time is right
	// first; raft sees the last answer.
	RetryPreVote() bool

	// PipelineStarted and PipelineEnded bracket each append pipeline the
	// transport hands raft: from its opening until its relay goroutine
	// returns.
	PipelineStarted()
	PipelineEnded()

	// LinkRTT is the round trip the network is set to have to target,
	// when it knows (a simulated network does); ok false leaves the
	// transport to estimate it from heartbeats. It must not block.
	LinkRTT(target raft.ServerAddress) (rtt time.Duration, ok bool)
}

// Inner is the transport a Transport wraps: wire.Transport, or raft's
// NetworkTransport, which behaves alike in all this package relies on.
type Inner interface {
	raft.Transport
	raft.WithClose
	raft.WithPreVote
}

// Transport is a raft transport (Inner), with pipelined replication
// to peers whose round trip is long and append pipelines that cannot wedge
// replication.
//
// raft v1.8.0's pipelined replication stalls for good when a follower
// refuses an append. A pipeline (NetworkTransport's netPipeline, and
// wire's alike) hands each sent request to a decoder goroutine over a
// channel of a few slots and each decoded response to raft's
// pipelineDecode over another. pipelineDecode quits at
// the first response that failed (an error, or Success false) and leaves
// the pipeline open for raft's sender to close once it notices. Until then
// the sender goes on sending; the decoder, unable to hand over its next
// response, stops taking requests, and the sender parks in AppendEntries
// on a full channel that nobody will read. It never gets to close the
// pipeline, replication to that follower stops, and Shutdown waits for it
// forever. A larger MaxRPCsInFlight only makes the wait take more sends.
//
// relayPipeline closes the real pipeline itself as soon as it sees a
// failed response, before raft's pipelineDecode can see it and quit. A
// parked or later AppendEntries then fails with raft.ErrPipelineShutdown
// (or a write error on the closed connection), the sender stops, and raft
// goes back to synchronous replication, which retries from the follower's
// answer and opens a new pipeline once it catches up.
//
// raft asks for a pipeline after every successful synchronous append; the
// transport refuses one, with raft.ErrPipelineReplicationNotSupported, until
// the peer's round trip is at least PipelineMinRTT. A pipeline closes itself
// once the round trip falls below half that, and raft goes back to
// synchronous appends. The round trip is the network's own figure when the
// hooks know it (Hooks.LinkRTT), else estimated from heartbeats: on a
// machine short of CPU a heartbeat's round trip is mostly its wait for a
// core, and a pipeline opened on that costs the CPU that is short.
//
// RequestVote and RequestPreVote ask again when a request fails on a dead
// pooled connection, and RequestPreVote also when the hooks say so (the
// core's fast failover). Every other method is the inner transport's own,
// so raft still finds its optional interfaces (Close).
type Transport struct {
	Inner

	hooks Hooks

	// Window bounds the bytes in flight of each append pipeline; New sets
	// it to PipelineMaxBytes. Change it only before raft starts.
	Window int64

	mu   sync.Mutex
	rtts map[raft.ServerAddress]*minRTT

	// peakBytes is the most bytes any of this transport's pipelines has
	// had in flight (see PipelineMaxBytes).
	peakBytes atomic.Int64
}

// PeakPipelineBytes is the most bytes of entries any of t's append
// pipelines has had in flight to its follower at once since t was made; it
// stays within Window unless a single append is larger.
func (t *Transport) PeakPipelineBytes() int64 { return t.peakBytes.Load() }

// RequestPreVote implements raft.WithPreVote. A refused or failed pre-vote
// is asked again while the hooks say so (Hooks.RetryPreVote); raft sees the
// last answer. Each peer's pre-vote has a goroutine of its own in raft, so
// the wait holds up no other.
func (t *Transport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	ask := func() error {
		*resp = raft.RequestPreVoteResponse{}
		return t.Inner.RequestPreVote(id, target, args, resp)
	}
	err := retryOnFreshConn(ask)
	for !resp.Granted && t.hooks.RetryPreVote() {
		err = retryOnFreshConn(ask)
	}
	return err
}

// RequestVote implements raft.Transport, asking again once on a fresh
// connection if the first fails; see retryOnFreshConn. A voter answers a
// repeated request from the same candidate in the same term alike.
func (t *Transport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return retryOnFreshConn(func() error {
		*resp = raft.RequestVoteResponse{}
		return t.Inner.RequestVote(id, target, args, resp)
	})
}

// retryOnFreshConn runs rpc, and once more if it fails. raft's transport
// takes a pooled connection without checking it, and after a peer restarts
// every pooled connection to it is dead: the first RPC on one fails with
// EOF. The transport drops a connection that failed, so the second try
// dials anew. Without this, an election right after a peer's restart loses
// that peer's vote and waits out an election timeout.
func retryOnFreshConn(rpc func() error) error {
	if err := rpc(); err == nil {
		return nil
	}
	return rpc()
}

// New wraps t, involving hooks, which must not be nil, as Hooks says.
func New(t Inner, hooks Hooks) *Transport {
	return &Transport{Inner: t, hooks: hooks, Window: PipelineMaxBytes, rtts: make(map[raft.ServerAddress]*minRTT)}
}

// AppendEntries implements raft.Transport. It times heartbeats, which a
// follower answers without touching its log, so that they measure the link
// rather than the follower's disk.
func (t *Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if !isHeartbeat(args) {
		return t.Inner.AppendEntries(id, target, args, resp)
	}
	start := time.Now()
	err := t.Inner.AppendEntries(id, target, args, resp)
	if err == nil {
		now := time.Now()
		t.mu.Lock()
		m := t.rtts[target]
		if m == nil {
			m = &minRTT{}
			t.rtts[target] = m
		}
		m.add(now, now.Sub(start))
		t.mu.Unlock()
	}
	return err
}

// isHeartbeat is (nearly) the transports' test (NetworkTransport's
// handleCommand, wire's isHeartbeat) for an append its follower answers on
// the fast path.
func isHeartbeat(a *raft.AppendEntriesRequest) bool {
	return a.PrevLogEntry == 0 && a.PrevLogTerm == 0 && len(a.Entries) == 0 && a.LeaderCommitIndex == 0
}

// AppendEntriesPipeline implements raft.Transport.
func (t *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.rtt(target) < PipelineMinRTT {
		// raft compares with ==, and falls back without logging.
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	p, err := t.Inner.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	t.hooks.PipelineStarted()
	linkFast := func() bool { return t.rtt(target) < PipelineMinRTT/2 }
	return newRelayPipeline(p, linkFast, t.hooks.PipelineEnded, t.Window, &t.peakBytes), nil
}

// rtt is the round trip to target, 0 while unknown: the network's own
// figure when the hooks know it, else the heartbeats' estimate.
func (t *Transport) rtt(target raft.ServerAddress) time.Duration {
	if d, ok := t.hooks.LinkRTT(target); ok {
		return d
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.rtts[target]; m != nil {
		return m.estimate()
	}
	return 0
}

// minRTT estimates a link's round trip as the fastest sample of the current
// and the previous rttWindow. A busy CPU only ever adds to a round trip, so
// the fastest is the link's own; windows let the estimate rise when the
// link slows down. Until a window has passed the estimate is 0, unknown:
// a link's first heartbeat includes the dial, and a starting cluster is
// busy.
type minRTT struct {
	start     time.Time     // when the current window began
	cur, prev time.Duration // fastest sample of each window, 0 for none
}

func (m *minRTT) add(now time.Time, d time.Duration) {
	if now.Sub(m.start) >= rttWindow {
		m.prev, m.cur, m.start = m.cur, d, now
		return
	}
	m.cur = min(m.cur, d)
}

func (m *minRTT) estimate() time.Duration {
	return min(m.prev, m.cur)
}

// relayPipeline relays a pipeline's responses to raft through a goroutine
// of its own, which closes the pipeline at the first failed response, or
// when linkFast says pipelining no longer pays.
//
// It also holds the bytes of entries in flight to the follower within a
// window: AppendEntries waits while sending would take them past it, until
// responses come back, except that an append always goes when nothing is in
// flight, however large. Heartbeats are not held up: raft sends them on
// connections of their own (the transport's pool), never on a pipeline's,
// and a follower answers them without touching its log.
//
// Concurrency: raft calls AppendEntries from its sender goroutine, reads
// Consumer from its decoder goroutine, and calls Close from the sender once
// the decoder has stopped; Close may also run while a relay is under way.
type relayPipeline struct {
	raft.AppendPipeline // the real pipeline
	linkFast            func() bool
	onExit              func() // called when the relay goroutine returns

	window int64         // the most bytes in flight, see appendBytes
	peak   *atomic.Int64 // raised to the bytes in flight when they exceed it; may be nil
	bmu    sync.Mutex
	bytes  int64         // bytes of the appends sent and not yet relayed
	freed  chan struct{} // capacity 1: bytes went down

	out     chan raft.AppendFuture
	closing chan struct{} // closed by Close
	once    sync.Once
	done    chan struct{} // closed when the relay goroutine has returned
}

func newRelayPipeline(p raft.AppendPipeline, linkFast func() bool, onExit func(), window int64, peak *atomic.Int64) *relayPipeline {
	r := &relayPipeline{
		AppendPipeline: p,
		linkFast:       linkFast,
		onExit:         onExit,
		window:         window,
		peak:           peak,
		freed:          make(chan struct{}, 1),
		// Unbuffered like the real pipeline's own: the relay holds at most
		// one response, so one more request may be in flight than the
		// transport's MaxRPCsInFlight says.
		out:     make(chan raft.AppendFuture),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.relay()
	return r
}

func (r *relayPipeline) relay() {
	defer close(r.done)
	defer r.onExit()
	in := r.AppendPipeline.Consumer()
	for {
		var f raft.AppendFuture
		select {
		case f = <-in:
		case <-r.closing:
			return
		}
		r.release(appendBytes(f.Request()))
		// The real pipeline answers a future before handing it over, so
		// Error does not wait. Response is valid only without an error.
		failed := f.Error() != nil || !f.Response().Success
		last := failed || r.linkFast()
		if last {
			// raft stops reading responses at a failed one; no request
			// sent after it may wait for a reader. After a good one raft
			// reads on, but the next send fails and raft falls back to
			// synchronous appends from the last acknowledged entry.
			_ = r.AppendPipeline.Close()
		}
		select {
		case r.out <- f:
		case <-r.closing:
			return
		}
		if last {
			return
		}
	}
}

// AppendEntries implements raft.AppendPipeline: it sends args down the real
// pipeline once the window has room for it. It fails with
// raft.ErrPipelineShutdown if the pipeline ends while it waits.
func (r *relayPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	n := appendBytes(args)
	r.bmu.Lock()
	for r.bytes > 0 && r.bytes+n > r.window {
		r.bmu.Unlock()
		select {
		case <-r.freed:
		case <-r.done:
			return nil, raft.ErrPipelineShutdown
		}
		r.bmu.Lock()
	}
	r.bytes += n
	if r.peak != nil {
		for p := r.peak.Load(); r.bytes > p && !r.peak.CompareAndSwap(p, r.bytes); p = r.peak.Load() {
		}
	}
	r.bmu.Unlock()
	f, err := r.AppendPipeline.AppendEntries(args, resp)
	if err != nil {
		r.release(n)
	}
	return f, err
}

// release takes n bytes out of the window and wakes a waiting sender.
func (r *relayPipeline) release(n int64) {
	r.bmu.Lock()
	r.bytes -= n
	r.bmu.Unlock()
	select {
	case r.freed <- struct{}{}:
	default:
	}
}

// appendBytes is what an append counts against a pipeline's window: its
// entries' data and extensions and a little for each entry's header.
func appendBytes(a *raft.AppendEntriesRequest) int64 {
	var n int64
	for _, e := range a.Entries {
		n += int64(len(e.Data)+len(e.Extensions)) + entryOverhead
	}
	return n
}

// Consumer implements raft.AppendPipeline.
func (r *relayPipeline) Consumer() <-chan raft.AppendFuture { return r.out }

// Close implements raft.AppendPipeline. It returns once the relay goroutine
// has, which never waits for anything but Close.
func (r *relayPipeline) Close() error {
	r.once.Do(func() { close(r.closing) })
	err := r.AppendPipeline.Close()
	<-r.done
	return err
}

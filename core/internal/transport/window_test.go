package transport

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakePipeline is a follower at the far end of a link with a round trip of
// rtt: it answers each append, successfully, rtt after it was sent, in
// order, and counts the bytes sent and not yet answered. It bounds nothing
// itself.
type fakePipeline struct {
	rtt time.Duration

	mu       sync.Mutex
	inFlight int64
	peak     int64
	sent     int

	out      chan raft.AppendFuture
	inflight chan *fakeFuture // FIFO of sent appends, for the answering goroutine
	stop     chan struct{}
	done     chan struct{}
}

type fakeFuture struct {
	req  *raft.AppendEntriesRequest
	resp *raft.AppendEntriesResponse
	due  time.Time
}

func (f *fakeFuture) Error() error                          { return nil }
func (f *fakeFuture) Start() time.Time                      { return f.due }
func (f *fakeFuture) Request() *raft.AppendEntriesRequest   { return f.req }
func (f *fakeFuture) Response() *raft.AppendEntriesResponse { return f.resp }
func (p *fakePipeline) Consumer() <-chan raft.AppendFuture  { return p.out }

// Close implements raft.AppendPipeline; it may be called more than once.
func (p *fakePipeline) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	return nil
}

func newFakePipeline(rtt time.Duration) *fakePipeline {
	p := &fakePipeline{
		rtt:      rtt,
		out:      make(chan raft.AppendFuture),
		inflight: make(chan *fakeFuture, 1024),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.answer()
	return p
}

func (p *fakePipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case <-p.stop:
		return nil, raft.ErrPipelineShutdown
	default:
	}
	f := &fakeFuture{req: args, resp: resp, due: time.Now().Add(p.rtt)}
	p.mu.Lock()
	p.inFlight += appendBytes(args)
	p.peak = max(p.peak, p.inFlight)
	p.sent++
	p.mu.Unlock()
	p.inflight <- f
	return f, nil
}

func (p *fakePipeline) answer() {
	defer close(p.done)
	for {
		var f *fakeFuture
		select {
		case f = <-p.inflight:
		case <-p.stop:
			return
		}
		select {
		case <-time.After(time.Until(f.due)):
		case <-p.stop:
			return
		}
		f.resp.Success = true
		p.mu.Lock()
		p.inFlight -= appendBytes(f.req)
		p.mu.Unlock()
		select {
		case p.out <- f:
		case <-p.stop:
			return
		}
	}
}

// TestPipelineHoldsItsBytesInFlightWithinTheWindow sends 1 MiB entries, as
// fast as raft's sender would, down a relayed pipeline to a follower 5 ms
// away: the bytes in flight must stay within the window, the transport's
// peak must say so, and every append must still be answered.
func TestPipelineHoldsItsBytesInFlightWithinTheWindow(t *testing.T) {
	const (
		entry   = 1 << 20
		window  = 3<<20 + 3*entryOverhead
		appends = 24
	)
	fake := newFakePipeline(5 * time.Millisecond)
	var peak atomic.Int64
	r := newRelayPipeline(fake, func() bool { return false }, func() {}, window, &peak)

	answered := make(chan int)
	go func() { // raft's pipelineDecode
		n := 0
		for range appends {
			f := <-r.Consumer()
			if f.Error() != nil || !f.Response().Success {
				t.Errorf("append %d failed", n)
			}
			n++
		}
		answered <- n
	}()
	value := make([]byte, entry)
	for i := range appends { // raft's pipelineSend
		req := &raft.AppendEntriesRequest{Entries: []*raft.Log{{Index: uint64(i + 1), Data: value}}}
		if _, err := r.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	select {
	case n := <-answered:
		if n != appends {
			t.Errorf("%d of %d appends answered", n, appends)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replication stopped: appends still unanswered after 10s")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-fake.done
	fake.mu.Lock()
	got := fake.peak
	fake.mu.Unlock()
	if got > window {
		t.Errorf("%d bytes in flight at the peak, over the %d-byte window", got, window)
	}
	if got < 2*entry {
		t.Errorf("%d bytes in flight at the peak: the window of %d was never used, the pipeline ran one append at a time", got, window)
	}
	if p := peak.Load(); p < got || p > window {
		t.Errorf("transport's peak %d, follower saw %d, window %d", p, got, window)
	}
}

// TestPipelineSendsAnAppendLargerThanTheWindow: an append over the window
// goes alone rather than never.
func TestPipelineSendsAnAppendLargerThanTheWindow(t *testing.T) {
	fake := newFakePipeline(time.Millisecond)
	r := newRelayPipeline(fake, func() bool { return false }, func() {}, 1<<10, nil)
	value := make([]byte, 1<<20)
	for i := range 3 {
		req := &raft.AppendEntriesRequest{Entries: []*raft.Log{{Index: uint64(i + 1), Data: value}}}
		if _, err := r.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		select {
		case <-r.Consumer():
		case <-time.After(5 * time.Second):
			t.Fatalf("append %d unanswered", i)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-fake.done
}

// TestPipelineWaitEndsWithThePipeline: a sender waiting for room in the
// window returns once the pipeline is closed, rather than waiting for
// answers that will never come.
func TestPipelineWaitEndsWithThePipeline(t *testing.T) {
	fake := newFakePipeline(time.Hour) // never answers in time
	r := newRelayPipeline(fake, func() bool { return false }, func() {}, 1<<20, nil)
	value := make([]byte, 1<<20)
	if _, err := r.AppendEntries(&raft.AppendEntriesRequest{Entries: []*raft.Log{{Index: 1, Data: value}}}, new(raft.AppendEntriesResponse)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := r.AppendEntries(&raft.AppendEntriesRequest{Entries: []*raft.Log{{Index: 2, Data: value}}}, new(raft.AppendEntriesResponse))
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("second append went past a full window: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	_ = r.Close()
	select {
	case err := <-errc:
		if err != raft.ErrPipelineShutdown {
			t.Errorf("waiting append: %v, want raft.ErrPipelineShutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting append still blocked after Close")
	}
	<-fake.done
}

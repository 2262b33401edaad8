package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// TestMain fails the run if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newPeer starts a transport on a fresh netsim layer; it closes when the
// test ends.
func newPeer(t *testing.T, cfg Config) (*Transport, *netsim.Layer) {
	t.Helper()
	s, err := netsim.Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream = s
	tr := New(cfg)
	t.Cleanup(func() {
		_ = tr.Close()
		s.WaitHandlers(time.Second)
	})
	return tr, s
}

// serveWith answers every RPC reaching tr's consumer with answer, until
// the test ends.
func serveWith(t *testing.T, tr *Transport, answer func(rpc raft.RPC)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case rpc := <-tr.Consumer():
				answer(rpc)
			case <-stop:
				return
			}
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
}

var cfg = Config{MaxPool: 2, MaxRPCsInFlight: 4, Timeout: 5 * time.Second}

// TestEveryRPC sends each RPC over a real connection and checks that the
// far end's raft sees the request sent and the sender the response given.
func TestEveryRPC(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	snapshot := bytes.Repeat([]byte("snapshot"), 100_000)
	gotSnapshot := make(chan []byte, 1)
	resps := responses()
	serveWith(t, b, func(rpc raft.RPC) {
		switch rpc.Command.(type) {
		case *raft.AppendEntriesRequest:
			rpc.Respond(resps["append ok"], nil)
		case *raft.RequestVoteRequest:
			rpc.Respond(resps["vote"], nil)
		case *raft.RequestPreVoteRequest:
			rpc.Respond(resps["prevote"], nil)
		case *raft.TimeoutNowRequest:
			rpc.Respond(resps["timeout now"], nil)
		case *raft.InstallSnapshotRequest:
			b, err := io.ReadAll(rpc.Reader)
			gotSnapshot <- b
			rpc.Respond(resps["snapshot"], err)
		}
	})
	check := func(name string, err error, got, want any) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: response %+v, want %+v", name, got, want)
		}
	}
	target := b.LocalAddr()
	reqs := requests()
	for range 3 { // pooled connections carry on
		// The snapshot goes first: it takes a pooled connection and closes it.
		var sr raft.InstallSnapshotResponse
		sreq := *reqs["install snapshot"].(*raft.InstallSnapshotRequest)
		sreq.Size = int64(len(snapshot))
		check("snapshot", a.InstallSnapshot("b", target, &sreq, &sr, bytes.NewReader(snapshot)), &sr, resps["snapshot"])
		if got := <-gotSnapshot; !bytes.Equal(got, snapshot) {
			t.Errorf("snapshot: received %d bytes, want the %d sent", len(got), len(snapshot))
		}
		var ar raft.AppendEntriesResponse
		check("append", a.AppendEntries("b", target, reqs["append"].(*raft.AppendEntriesRequest), &ar), &ar, resps["append ok"])
		var vr raft.RequestVoteResponse
		check("vote", a.RequestVote("b", target, reqs["vote"].(*raft.RequestVoteRequest), &vr), &vr, resps["vote"])
		var pr raft.RequestPreVoteResponse
		check("prevote", a.RequestPreVote("b", target, reqs["prevote"].(*raft.RequestPreVoteRequest), &pr), &pr, resps["prevote"])
		var tr raft.TimeoutNowResponse
		check("timeout now", a.TimeoutNow("b", target, reqs["timeout now"].(*raft.TimeoutNowRequest), &tr), &tr, resps["timeout now"])
	}
	a.poolMu.Lock()
	pooled := len(a.pool[target])
	a.poolMu.Unlock()
	if pooled != 1 {
		t.Errorf("%d connections pooled after RPCs one at a time, want 1", pooled)
	}
}

// TestRequestsArriveIntact checks what the far end's raft is handed.
func TestRequestsArriveIntact(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	got := make(chan any, 1)
	serveWith(t, b, func(rpc raft.RPC) {
		got <- rpc.Command
		rpc.Respond(&raft.AppendEntriesResponse{}, nil)
	})
	want := requests()["append"].(*raft.AppendEntriesRequest)
	if err := a.AppendEntries("b", b.LocalAddr(), want, &raft.AppendEntriesResponse{}); err != nil {
		t.Fatal(err)
	}
	if g := <-got; !reflect.DeepEqual(g, want) {
		t.Errorf("received %+v, want %+v", g, want)
	}
}

// TestErrorAnswerKeepsTheConnection: an error raft answers with reaches
// the sender as an error with its text, and the connection stays pooled.
func TestErrorAnswerKeepsTheConnection(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	serveWith(t, b, func(rpc raft.RPC) { rpc.Respond(nil, errors.New("unknown peer")) })
	err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{Term: 1}, &raft.RequestVoteResponse{})
	if err == nil || err.Error() != "unknown peer" {
		t.Fatalf("err %v, want unknown peer", err)
	}
	a.poolMu.Lock()
	defer a.poolMu.Unlock()
	if len(a.pool[b.LocalAddr()]) != 1 {
		t.Errorf("connection not pooled after an error answer")
	}
}

// TestHeartbeatsSkipTheQueue: with raft's main loop busy (nobody reads the
// consumer) a heartbeat is still answered, by the heartbeat handler.
func TestHeartbeatsSkipTheQueue(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	var beats atomic.Int64
	b.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 7, Success: true}, nil)
	})
	hb := requests()["heartbeat"].(*raft.AppendEntriesRequest)
	for range 3 {
		var resp raft.AppendEntriesResponse
		if err := a.AppendEntries("b", b.LocalAddr(), hb, &resp); err != nil || !resp.Success {
			t.Fatalf("heartbeat: err %v, success %v", err, resp.Success)
		}
	}
	if beats.Load() != 3 {
		t.Errorf("heartbeat handler ran %d times, want 3", beats.Load())
	}
	// An append with entries is no heartbeat: it waits for the consumer
	// and, nobody reading it, times out.
	short := cfg
	short.Timeout = 100 * time.Millisecond
	c, _ := newPeer(t, short)
	if err := c.AppendEntries("b", b.LocalAddr(), requests()["append"].(*raft.AppendEntriesRequest), &raft.AppendEntriesResponse{}); err == nil {
		t.Errorf("append answered with nobody reading the consumer")
	}
	if beats.Load() != 3 {
		t.Errorf("an append went to the heartbeat handler")
	}
}

// TestTimeoutDiscardsTheConnection: an RPC that is not answered within
// Timeout fails, and its connection is not pooled again.
func TestTimeoutDiscardsTheConnection(t *testing.T) {
	short := cfg
	short.Timeout = 100 * time.Millisecond
	a, _ := newPeer(t, short)
	b, _ := newPeer(t, cfg) // nobody reads its consumer
	start := time.Now()
	err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{Term: 1}, &raft.RequestVoteResponse{})
	if err == nil {
		t.Fatal("no error without an answer")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("failed after %v with a timeout of %v", d, short.Timeout)
	}
	a.poolMu.Lock()
	defer a.poolMu.Unlock()
	if n := len(a.pool[b.LocalAddr()]); n != 0 {
		t.Errorf("%d connections pooled after a timeout", n)
	}
}

// TestPeerClosingMidRPCFails: the far end closing while an RPC waits for
// its answer fails the RPC at once, long before the timeout.
func TestPeerClosingMidRPCFails(t *testing.T) {
	long := cfg
	long.Timeout = time.Minute
	a, _ := newPeer(t, long)
	b, _ := newPeer(t, cfg)
	arrived := make(chan struct{})
	b.SetHeartbeatHandler(func(raft.RPC) { close(arrived) }) // never answers
	errc := make(chan error, 1)
	go func() {
		errc <- a.AppendEntries("b", b.LocalAddr(), requests()["heartbeat"].(*raft.AppendEntriesRequest), &raft.AppendEntriesResponse{})
	}()
	<-arrived
	_ = b.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("no error from an RPC whose peer closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RPC still waiting 10s after its peer closed")
	}
	// The closed transport refuses to send.
	if err := b.RequestVote("a", a.LocalAddr(), &raft.RequestVoteRequest{}, &raft.RequestVoteResponse{}); !errors.Is(err, raft.ErrTransportShutdown) {
		t.Errorf("closed transport: err %v, want ErrTransportShutdown", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestPipelineAnswersInOrder sends appends down a pipeline and checks that
// the answers come back in order, each with its own request, and that no
// more than MaxRPCsInFlight go unanswered.
func TestPipelineAnswersInOrder(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	gate := make(chan struct{})
	serveWith(t, b, func(rpc raft.RPC) {
		<-gate
		req := rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(&raft.AppendEntriesResponse{LastLog: req.PrevLogEntry, Success: true}, nil)
	})
	p, err := a.AppendEntriesPipeline("b", b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var sent atomic.Int64
	sendErr := make(chan error, 1)
	go func() {
		for i := range n {
			req := &raft.AppendEntriesRequest{Term: 1, PrevLogEntry: uint64(i), Entries: []*raft.Log{{Index: uint64(i + 1), Data: []byte{byte(i)}}}}
			if _, err := p.AppendEntries(req, &raft.AppendEntriesResponse{}); err != nil {
				sendErr <- err
				return
			}
			sent.Add(1)
		}
		sendErr <- nil
	}()
	// With the follower stuck, the sender stops at the window.
	deadline := time.Now().Add(5 * time.Second)
	for sent.Load() < int64(cfg.MaxRPCsInFlight) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := sent.Load(); got != int64(cfg.MaxRPCsInFlight) {
		t.Errorf("%d appends sent with none answered, want MaxRPCsInFlight = %d", got, cfg.MaxRPCsInFlight)
	}
	close(gate)
	for i := range n {
		f := <-p.Consumer()
		if f.Error() != nil {
			t.Fatalf("append %d: %v", i, f.Error())
		}
		if got := f.Request().PrevLogEntry; got != uint64(i) {
			t.Fatalf("answer %d is for append %d", i, got)
		}
		if f.Response().LastLog != uint64(i) || !f.Response().Success {
			t.Fatalf("append %d: response %+v", i, f.Response())
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{}, &raft.AppendEntriesResponse{}); !errors.Is(err, raft.ErrPipelineShutdown) {
		t.Errorf("append on a closed pipeline: %v, want ErrPipelineShutdown", err)
	}
}

// TestPipelinePeerClosing: appends in flight when the follower goes fail,
// and Close then returns.
func TestPipelinePeerClosing(t *testing.T) {
	long := cfg
	long.Timeout = time.Minute
	a, _ := newPeer(t, long)
	b, _ := newPeer(t, cfg) // nobody reads its consumer
	p, err := a.AppendEntriesPipeline("b", b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 1, PrevLogEntry: 1}, &raft.AppendEntriesResponse{}); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	select {
	case f := <-p.Consumer():
		if f.Error() == nil {
			t.Error("append answered by a closed peer")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("append still in flight 10s after its peer closed")
	}
	closed := make(chan struct{})
	go func() {
		_ = p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline Close hangs")
	}
}

func TestNoPipelineBelowTwoInFlight(t *testing.T) {
	one := cfg
	one.MaxRPCsInFlight = 1
	a, _ := newPeer(t, one)
	if _, err := a.AppendEntriesPipeline("b", "127.0.0.1:1"); err != raft.ErrPipelineReplicationNotSupported {
		t.Errorf("err %v, want ErrPipelineReplicationNotSupported", err)
	}
}

// TestStrangersAreDropped: a connection that does not open with the
// preamble is closed without an answer.
func TestStrangersAreDropped(t *testing.T) {
	b, _ := newPeer(t, cfg)
	c, err := net.Dial("tcp", string(b.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 10)); err != io.EOF {
		t.Errorf("read %d bytes, err %v; want EOF", n, err)
	}
}

// tcpStream is a plain TCP stream layer, as node processes use: unlike
// netsim's, closing it cuts no connection.
type tcpStream struct{ net.Listener }

func (s tcpStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

// TestCloseEndsServedConnectionsOnPlainTCP: over a stream layer that cuts
// nothing, Close still closes the connections it accepted, which their
// dialler sees at once.
func TestCloseEndsServedConnectionsOnPlainTCP(t *testing.T) {
	listen := func() *Transport {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Stream = tcpStream{ln}
		c.Timeout = time.Minute
		return New(c)
	}
	a, b := listen(), listen()
	defer a.Close()
	serveWith(t, b, func(rpc raft.RPC) { rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil) })
	if err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{Term: 1}, &raft.RequestVoteResponse{}); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	// The connection a pooled sees its far end close.
	c, err := a.getConn(b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("pooled connection to a closed transport: read %d, err %v; want EOF", n, err)
	}
}

// TestPeerCodesFollowTheAddress checks EncodePeer's and DecodePeer's kept
// codes: each call returns the code of the address it is given, whichever
// came before, and an append to an encoding never writes into the kept one.
func TestPeerCodesFollowTheAddress(t *testing.T) {
	tr, _ := newPeer(t, Config{})
	for _, addr := range []raft.ServerAddress{"127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:22", "127.0.0.1:1"} {
		b := tr.EncodePeer("n1", addr)
		if string(b) != string(addr) {
			t.Fatalf("EncodePeer(%s) = %q", addr, b)
		}
		_ = append(b, 'x')
		if got := tr.EncodePeer("n1", addr); string(got) != string(addr) {
			t.Fatalf("EncodePeer(%s) = %q after an append to the last one", addr, got)
		}
		buf := []byte(addr)
		if got := tr.DecodePeer(buf); got != addr {
			t.Fatalf("DecodePeer(%q) = %s", buf, got)
		}
		buf[0] = '9' // the caller's buffer is reused: the kept address must not be
		if got := tr.DecodePeer([]byte(addr)); got != addr {
			t.Fatalf("DecodePeer(%q) = %s after its buffer changed", addr, got)
		}
	}
}

// TestFenceRefusesTheGoneLeader: once fenced, the leader at an address gets
// its appends, heartbeats and snapshots refused, with an error and without
// raft seeing them; another leader's get through, as do the fenced one's
// votes and, once the fence ends, its appends.
func TestFenceRefusesTheGoneLeader(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	var seen atomic.Int64
	serveWith(t, b, func(rpc raft.RPC) {
		seen.Add(1)
		switch rpc.Command.(type) {
		case *raft.RequestVoteRequest:
			rpc.Respond(&raft.RequestVoteResponse{}, nil)
		case *raft.InstallSnapshotRequest:
			_, _ = io.Copy(io.Discard, rpc.Reader)
			rpc.Respond(&raft.InstallSnapshotResponse{}, nil)
		default:
			rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
		}
	})
	var beats atomic.Int64
	b.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
	})
	reqs := requests()
	app := reqs["append"].(*raft.AppendEntriesRequest)   // from 127.0.0.1:1
	hb := reqs["heartbeat"].(*raft.AppendEntriesRequest) // from 127.0.0.1:1
	snap := &raft.InstallSnapshotRequest{RPCHeader: app.RPCHeader, Term: 3, Size: 5}
	b.Fence("127.0.0.1:1", time.Now().Add(time.Hour))
	if err := a.AppendEntries("b", b.LocalAddr(), app, &raft.AppendEntriesResponse{}); err == nil || err.Error() != errFenced {
		t.Errorf("fenced append: err %v, want %q", err, errFenced)
	}
	if err := a.AppendEntries("b", b.LocalAddr(), hb, &raft.AppendEntriesResponse{}); err == nil {
		t.Errorf("fenced heartbeat answered")
	}
	if err := a.InstallSnapshot("b", b.LocalAddr(), snap, &raft.InstallSnapshotResponse{}, bytes.NewReader([]byte("12345"))); err == nil {
		t.Errorf("fenced snapshot answered")
	}
	if n, m := seen.Load(), beats.Load(); n != 0 || m != 0 {
		t.Fatalf("raft saw %d requests and %d heartbeats from a fenced leader", n, m)
	}
	if err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: app.RPCHeader, Term: 9}, &raft.RequestVoteResponse{}); err != nil {
		t.Errorf("vote from the fenced address: %v", err)
	}
	other := *app
	other.RPCHeader = raft.RPCHeader{ID: []byte("n3"), Addr: []byte("127.0.0.1:3")}
	if err := a.AppendEntries("b", b.LocalAddr(), &other, &raft.AppendEntriesResponse{}); err != nil {
		t.Errorf("append from another leader: %v", err)
	}
	b.Fence("127.0.0.1:1", time.Now().Add(-time.Millisecond))
	if err := a.AppendEntries("b", b.LocalAddr(), app, &raft.AppendEntriesResponse{}); err != nil {
		t.Errorf("append after the fence ended: %v", err)
	}
	if n := seen.Load(); n != 3 {
		t.Errorf("raft saw %d requests, want 3 (a vote, another leader's append, one after the fence)", n)
	}
}

// TestPreVotesAnsweredFollowsRaft: the transport remembers when raft last
// granted and last refused a pre-vote it carried, and nothing else.
func TestPreVotesAnsweredFollowsRaft(t *testing.T) {
	a, _ := newPeer(t, cfg)
	b, _ := newPeer(t, cfg)
	grant := true
	serveWith(t, b, func(rpc raft.RPC) {
		switch rpc.Command.(type) {
		case *raft.RequestPreVoteRequest:
			rpc.Respond(&raft.RequestPreVoteResponse{Granted: grant}, nil)
		default:
			rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil)
		}
	})
	if g, r := b.PreVotesAnswered(); !g.IsZero() || !r.IsZero() {
		t.Fatalf("answered %v %v before any pre-vote", g, r)
	}
	if err := a.RequestVote("b", b.LocalAddr(), &raft.RequestVoteRequest{Term: 2}, &raft.RequestVoteResponse{}); err != nil {
		t.Fatal(err)
	}
	if g, r := b.PreVotesAnswered(); !g.IsZero() || !r.IsZero() {
		t.Fatalf("a vote counted as a pre-vote: %v %v", g, r)
	}
	before := time.Now()
	if err := a.RequestPreVote("b", b.LocalAddr(), &raft.RequestPreVoteRequest{Term: 3}, &raft.RequestPreVoteResponse{}); err != nil {
		t.Fatal(err)
	}
	if g, r := b.PreVotesAnswered(); g.Before(before) || !r.IsZero() {
		t.Fatalf("after a grant: granted %v, refused %v", g, r)
	}
	grant = false
	if err := a.RequestPreVote("b", b.LocalAddr(), &raft.RequestPreVoteRequest{Term: 3}, &raft.RequestPreVoteResponse{}); err != nil {
		t.Fatal(err)
	}
	if _, r := b.PreVotesAnswered(); r.Before(before) {
		t.Fatalf("after a refusal: refused %v", r)
	}
}

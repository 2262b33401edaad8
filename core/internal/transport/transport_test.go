package transport

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/phantomdb/phantom/core/internal/netsim"
	"github.com/phantomdb/phantom/core/internal/wire"
)

// TestMain fails the run if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// noHooks is a replica without fast failover that counts nothing.
type noHooks struct{}

func (noHooks) RetryPreVote() bool                               { return false }
func (noHooks) PipelineStarted()                                 {}
func (noHooks) PipelineEnded()                                   {}
func (noHooks) LinkRTT(raft.ServerAddress) (time.Duration, bool) { return 0, false }

func TestMinRTTFollowsTheLinkNotTheNoise(t *testing.T) {
	ms := time.Millisecond
	t0 := time.Unix(0, 0)
	type sample struct {
		at time.Duration // since t0
		d  time.Duration
	}
	tests := []struct {
		name    string
		samples []sample
		want    time.Duration
	}{
		{"none", nil, 0},
		{"unknown within the first window", []sample{{0, 3 * ms}, {ms, 3 * ms}}, 0},
		{"known after a window", []sample{{0, 3 * ms}, {rttWindow, 4 * ms}}, 3 * ms},
		{"spikes do not count", []sample{{0, 10 * ms}, {5 * ms, 40 * ms}, {rttWindow, 11 * ms}}, 10 * ms},
		{"a slower link shows within two windows", []sample{{0, ms / 10}, {rttWindow, 10 * ms}, {2 * rttWindow, 10 * ms}}, 10 * ms},
		{"the previous window still counts", []sample{{0, ms / 10}, {rttWindow, 10 * ms}}, ms / 10},
		{"a faster link shows at once", []sample{{0, 10 * ms}, {rttWindow, 10 * ms}, {rttWindow + ms, ms / 10}}, ms / 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m minRTT
			for _, s := range tt.samples {
				m.add(t0.Add(s.at), s.d)
			}
			if got := m.estimate(); got != tt.want {
				t.Errorf("estimate = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestVoteAfterPeerRestartGetsThrough asks a peer for its vote, restarts
// the peer on the same address, and asks again: the second request must get
// through although the connection raft pooled after the first is dead
// (retryOnFreshConn).
func TestVoteAfterPeerRestartGetsThrough(t *testing.T) {
	voter := func(addr string) (stop func()) {
		t.Helper()
		s, err := netsim.Listen(addr, nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		trans := wire.New(wire.Config{Stream: s, MaxPool: 2, Timeout: time.Second})
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case rpc := <-trans.Consumer():
					rpc.Respond(&raft.RequestVoteResponse{Term: 1, Granted: true}, nil)
				case <-done:
					return
				}
			}
		})
		return func() {
			close(done)
			wg.Wait()
			_ = trans.Close()
			s.WaitHandlers(time.Second)
		}
	}

	s, err := netsim.Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	candidate := New(wire.New(wire.Config{Stream: s, MaxPool: 2, Timeout: time.Second}), noHooks{})
	defer candidate.Close()

	addr := listenAddr(t)
	ask := func(what string) {
		t.Helper()
		var resp raft.RequestVoteResponse
		req := &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("c"), Addr: []byte(s.Address())}, Term: 1}
		if err := candidate.RequestVote("v", raft.ServerAddress(addr), req, &resp); err != nil || !resp.Granted {
			t.Fatalf("%s: err %v, granted %v", what, err, resp.Granted)
		}
	}
	stop := voter(addr)
	ask("first vote")
	stop()
	stop = voter(addr)
	defer stop()
	ask("vote after the voter restarted")
}

// listenAddr returns a free loopback address.
func listenAddr(t *testing.T) string {
	t.Helper()
	s, err := netsim.Listen("127.0.0.1:0", nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	addr := string(s.Address())
	s.Close()
	return addr
}

// Package node runs PhantomDB nodes as processes of their own: the gRPC
// server of `phantom node` (Server, Main), which serves one core.NodeHost,
// the client the controller drives it with (Conn, a core.NodeConn), and the
// launchers that start node processes (Processes) or reach nodes something
// else started (Join).
package node

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/phantomdb/phantom/api/phantompb"
	"github.com/phantomdb/phantom/core"
)

// Server serves a node's replicas over gRPC.
type Server struct {
	phantompb.UnimplementedNodeServer

	host  *core.NodeHost
	addr  string   // the API address others reach the node at
	peers []string // other nodes' API addresses, for join discovery

	storage string
	self    *process.Process
	started time.Time // the uptime's origin, on the monotonic clock

	// api counts the bytes of the API's connections (countingListener);
	// it stays at zero when the server serves no listener of its own
	// (tests serving it on a plain one).
	api *apiTraffic

	// renewed is when the parent lease was last renewed, in Unix
	// nanoseconds; see watchLease.
	renewed atomic.Int64

	exitOnce sync.Once
	exit     chan exitReq
}

type exitReq struct{ abrupt bool }

// NewServer makes the server of host, reached at addr.
func NewServer(host *core.NodeHost, addr, storage string, peers []string) *Server {
	s := &Server{host: host, addr: addr, peers: peers, storage: storage, exit: make(chan exitReq, 1), started: time.Now(), api: new(apiTraffic)}
	s.self, _ = process.NewProcess(int32(os.Getpid()))
	s.renewed.Store(time.Now().UnixNano())
	return s
}

// exitRequests delivers one request to exit: from the admin API or a
// lapsed lease.
func (s *Server) exitRequests() <-chan exitReq { return s.exit }

func (s *Server) requestExit(abrupt bool) {
	s.exitOnce.Do(func() { s.exit <- exitReq{abrupt: abrupt} })
}

// watchLease asks the node to exit once lease passes without a renewal,
// until ctx ends.
func (s *Server) watchLease(ctx context.Context, lease time.Duration) {
	t := time.NewTicker(lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.renewed.Load())) > lease {
			s.requestExit(false)
			return
		}
	}
}

func (s *Server) Info(context.Context, *phantompb.InfoRequest) (*phantompb.InfoResponse, error) {
	return &phantompb.InfoResponse{Id: s.host.ID(), Addr: s.addr, Pid: int64(os.Getpid()), Peers: s.peers, Storage: s.storage}, nil
}

func (s *Server) StartReplica(ctx context.Context, r *phantompb.StartReplicaRequest) (*phantompb.StartReplicaResponse, error) {
	addr, err := s.host.StartReplica(ctx, r.Spec)
	return &phantompb.StartReplicaResponse{RaftAddr: addr, Error: core.EncodeError(err)}, nil
}

func (s *Server) StopReplica(ctx context.Context, r *phantompb.StopReplicaRequest) (*phantompb.StopReplicaResponse, error) {
	err := s.host.StopReplica(ctx, int(r.Shard), r.Drop)
	return &phantompb.StopReplicaResponse{Error: core.EncodeError(err)}, nil
}

func (s *Server) Apply(ctx context.Context, r *phantompb.ApplyRequest) (*phantompb.ApplyResponse, error) {
	return applyResponse(s.host.Apply(ctx, int(r.Shard), r.Command, time.Duration(r.TimeoutNs), r.Timed)), nil
}

// applyResponse is the answer to one command; the times are zero unless
// the controller asked for them.
func applyResponse(index uint64, resp []byte, t core.NodeTimes, err error) *phantompb.ApplyResponse {
	return &phantompb.ApplyResponse{Index: index, Response: resp, Error: core.EncodeError(err),
		QueueNs: int64(t.Phases.Queue), AppendNs: int64(t.Phases.Append), ReplicateNs: int64(t.Phases.Replicate),
		ApplyNs: int64(t.Phases.Apply), TookNs: int64(t.Took)}
}

func (s *Server) Read(ctx context.Context, r *phantompb.ReadRequest) (*phantompb.ReadResponse, error) {
	a, t, err := s.host.Read(ctx, int(r.Shard), r.Query, time.Duration(r.TimeoutNs), r.Timed)
	return &phantompb.ReadResponse{Answer: a, Error: core.EncodeError(err),
		ReadIndexNs: int64(t.Phases.ReadIndex), ApplyWaitNs: int64(t.Phases.ApplyWait), TookNs: int64(t.Took)}, nil
}

func (s *Server) Raft(ctx context.Context, r *phantompb.RaftRequest) (*phantompb.RaftResponse, error) {
	res, err := s.host.Raft(ctx, int(r.Shard), r.Op)
	return &phantompb.RaftResponse{Result: res, Error: core.EncodeError(err)}, nil
}

func (s *Server) Network(ctx context.Context, r *phantompb.NetworkRequest) (*phantompb.NetworkResponse, error) {
	return &phantompb.NetworkResponse{Error: core.EncodeError(s.host.Network(ctx, r.Op))}, nil
}

func (s *Server) Status(ctx context.Context, req *phantompb.StatusRequest) (*phantompb.StatusResponse, error) {
	if req.CountersOnly {
		return &phantompb.StatusResponse{Resources: s.counters()}, nil
	}
	b, err := s.host.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := &phantompb.StatusResponse{Replicas: b}
	if !req.ReplicasOnly {
		out.Resources = s.resources()
	}
	return out, nil
}

// resources measures this process: CPU time and memory, its network as it
// counts it itself (Raft links and API connections), and its disk traffic.
func (s *Server) resources() *phantompb.Resources {
	r := s.counters()
	r.Goroutines = int32(runtime.NumGoroutine())
	if s.self == nil {
		return r
	}
	if io, err := s.self.IOCounters(); err == nil {
		r.HasDisk, r.DiskReadBytes, r.DiskWriteBytes = true, io.ReadBytes, io.WriteBytes
	}
	if t, err := s.self.Times(); err == nil {
		r.CpuSeconds = t.User + t.System
	}
	if m, err := s.self.MemoryInfo(); err == nil {
		r.RssBytes = m.RSS
	}
	return r
}

// counters are what the node counts itself, without a system call: its
// network and its uptime.
func (s *Server) counters() *phantompb.Resources {
	r := &phantompb.Resources{Pid: int64(os.Getpid()), UptimeNs: int64(time.Since(s.started))}
	r.RaftSentBytes, r.RaftRecvBytes = s.host.Traffic()
	r.ApiSentBytes, r.ApiRecvBytes = s.api.sent.Load(), s.api.recv.Load()
	return r
}

// apiTraffic counts the bytes of the API's connections, on the wire
// (gRPC's framing included): an atomic add per read or write, where a
// gRPC stats handler would allocate a record per message.
type apiTraffic struct{ sent, recv atomic.Uint64 }

// countingListener counts the bytes of every connection it accepts.
type countingListener struct {
	net.Listener
	t *apiTraffic
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, t: l.t}, nil
}

type countingConn struct {
	net.Conn
	t *apiTraffic
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.recv.Add(uint64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.t.sent.Add(uint64(n))
	return n, err
}

// Listen wraps ln so that the server counts the bytes of its API's
// connections; serve the server on what it returns.
func (s *Server) Listen(ln net.Listener) net.Listener {
	return countingListener{Listener: ln, t: s.api}
}

func (s *Server) Ping(_ context.Context, r *phantompb.PingRequest) (*phantompb.PingResponse, error) {
	if r.Renew {
		s.renewed.Store(time.Now().UnixNano())
	}
	return &phantompb.PingResponse{}, nil
}

func (s *Server) Watch(_ *phantompb.WatchRequest, stream phantompb.Node_WatchServer) error {
	ctx := stream.Context()
	// The host calls back on raft's goroutines, which must not block: the
	// events queue here and this goroutine sends them.
	var mu sync.Mutex
	var queue []*phantompb.LeaderEvent
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.host.Watch(ctx, func(shard int, leader string, term uint64) {
			mu.Lock()
			queue = append(queue, &phantompb.LeaderEvent{Shard: int32(shard), Leader: leader, Term: term})
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
		mu.Lock()
		batch := queue
		queue = nil
		mu.Unlock()
		for _, ev := range batch {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

func (s *Server) Exit(_ context.Context, r *phantompb.ExitRequest) (*phantompb.ExitResponse, error) {
	s.requestExit(r.Abrupt)
	return &phantompb.ExitResponse{}, nil
}

func (s *Server) Reset(ctx context.Context, _ *phantompb.ResetRequest) (*phantompb.ResetResponse, error) {
	return &phantompb.ResetResponse{Error: core.EncodeError(s.host.Reset(ctx))}, nil
}

func (s *Server) ApplyBatch(ctx context.Context, r *phantompb.ApplyBatchRequest) (*phantompb.ApplyBatchResponse, error) {
	out := &phantompb.ApplyBatchResponse{Responses: make([]*phantompb.ApplyResponse, len(r.Requests))}
	// Each waits for its entry's commit; in parallel, raft puts them in
	// one append.
	var ends []time.Time // a timed command's answer, for its wait below
	for _, req := range r.Requests {
		if req.Timed {
			ends = make([]time.Time, len(r.Requests))
			break
		}
	}
	var wg sync.WaitGroup
	for i, req := range r.Requests {
		wg.Go(func() {
			out.Responses[i] = applyResponse(s.host.Apply(ctx, int(req.Shard), req.Command, time.Duration(req.TimeoutNs), req.Timed))
			if req.Timed {
				ends[i] = time.Now()
			}
		})
	}
	wg.Wait()
	// A command's answer leaves with its batch's slowest: the node's time
	// for it (took_ns) runs until then, or the controller, which counts
	// the rest of the round trip as the wire, would put the wait for the
	// other commands there. Its phases leave the wait out: it shows as
	// time in no phase.
	if ends != nil {
		now := time.Now()
		for i, end := range ends {
			if !end.IsZero() {
				out.Responses[i].TookNs += int64(now.Sub(end))
			}
		}
	}
	return out, nil
}

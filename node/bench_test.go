package node

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/phantomdb/phantom/api/phantompb"
	"github.com/phantomdb/phantom/core"
)

// inProcess serves NodeHosts over gRPC on loopback inside the test's own
// process: the gRPC hop without the process boundary.
type inProcess struct {
	mu      sync.Mutex
	servers map[string]*grpc.Server
	hosts   map[string]*core.NodeHost
}

func (l *inProcess) Start(_ context.Context, id string, _ int) (core.NodeConn, error) {
	h, err := core.NewNodeHost(core.NodeHostConfig{ID: id})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(serverOptions()...)
	phantompb.RegisterNodeServer(gs, NewServer(h, ln.Addr().String(), core.StorageMemory, nil))
	go func() { _ = gs.Serve(ln) }()
	l.mu.Lock()
	l.servers[id], l.hosts[id] = gs, h
	l.mu.Unlock()
	return Dial(ln.Addr().String())
}

func (l *inProcess) Kill(id string) error { return l.Release(id) }
func (l *inProcess) Restart(context.Context, string) (core.NodeConn, error) {
	return nil, core.ErrRefused
}
func (l *inProcess) Release(id string) error {
	l.mu.Lock()
	gs, h := l.servers[id], l.hosts[id]
	delete(l.servers, id)
	delete(l.hosts, id)
	l.mu.Unlock()
	if gs != nil {
		gs.Stop()
		return h.Close()
	}
	return nil
}

func (l *inProcess) Close() error {
	l.mu.Lock()
	ids := make([]string, 0, len(l.servers))
	for id := range l.servers {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	for _, id := range ids {
		_ = l.Release(id)
	}
	return nil
}

// BenchmarkPut64 puts 128-byte values from 64 goroutines on 3 nodes with 3
// shards: the nodes embedded, behind gRPC in this process, and in
// processes of their own. The differences are the hop's costs: gRPC's,
// then the process boundary's.
//
//	go test -run XXX -bench Put64 -benchtime 20000x ./node/
func BenchmarkPut64(b *testing.B) {
	modes := []struct {
		name   string
		launch func(b *testing.B) core.NodeLauncher
	}{
		{"embedded", func(*testing.B) core.NodeLauncher { return nil }},
		{"grpc-in-process", func(*testing.B) core.NodeLauncher {
			return &inProcess{servers: map[string]*grpc.Server{}, hosts: map[string]*core.NodeHost{}}
		}},
		{"processes", func(b *testing.B) core.NodeLauncher {
			p, err := NewProcesses(ProcessesConfig{LogDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			return p
		}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			cfg := core.DefaultConfig()
			cfg.Nodes, cfg.Shards = 3, 3
			if l := m.launch(b); l != nil {
				cfg.Launcher = l
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := core.NewCluster(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			value := make([]byte, 128)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for g := range 64 {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := c.Put(ctx, "k"+strconv.Itoa(g)+"-"+strconv.FormatInt(i%1000, 10), value); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
		})
	}
}

var put64PhasesRuns atomic.Int64

// BenchmarkPut64Phases is BenchmarkPut64's processes mode with the phase
// timings off (Put) and on (PutTimed: each node times its entries and the
// controller adds the hop), on one cluster, to show what asking the nodes
// for the phases costs. With -count N the two alternate N times, each pair
// on a fresh cluster; compare them with benchstat.
//
//	go test -run XXX -bench Put64Phases -benchtime 20000x -count 5 ./node/
func BenchmarkPut64Phases(b *testing.B) {
	p, err := NewProcesses(ProcessesConfig{LogDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	cfg := core.DefaultConfig()
	cfg.Nodes, cfg.Shards = 3, 3
	cfg.Launcher = p
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := core.NewCluster(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	value := make([]byte, 128)
	// Warm up first (elections settled, connections made), and take the
	// two in turn first, so that neither gains from going second.
	for i := range 2000 {
		if err := c.Put(ctx, "warm"+strconv.Itoa(i%100), value); err != nil {
			b.Fatal(err)
		}
	}
	order := []bool{false, true}
	if put64PhasesRuns.Add(1)%2 == 0 {
		order = []bool{true, false}
	}
	for _, timed := range order {
		name := "timings=off"
		if timed {
			name = "timings=on"
		}
		b.Run(name, func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			var sums phaseSums
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for g := range 64 {
				wg.Go(func() {
					var ph, sum core.Phases
					var lat time.Duration
					defer func() { sums.add(&sum, lat) }()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						key := "k" + strconv.Itoa(g) + "-" + strconv.FormatInt(i%1000, 10)
						var err error
						if timed {
							t0 := time.Now()
							err = c.PutTimed(ctx, key, value, &ph)
							lat += time.Since(t0)
							sum.Add(&ph)
						} else {
							err = c.Put(ctx, key, value)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
			if timed {
				sums.report(b)
			}
		})
	}
}

// phaseSums adds up the phases of a benchmark's timed puts: each writer
// sums its own and adds them here once, at its end.
type phaseSums struct {
	mu  sync.Mutex
	ph  core.Phases
	lat time.Duration
}

func (s *phaseSums) add(ph *core.Phases, lat time.Duration) {
	s.mu.Lock()
	s.ph.Add(ph)
	s.lat += lat
	s.mu.Unlock()
}

// report reports the average put's latency and where it went, in µs per
// put: the hop's line (the wait in the controller's line to the node) and
// wire (the rest of the round trip outside the node), and the node's own
// phases together.
func (s *phaseSums) report(b *testing.B) {
	us := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e3 }
	b.ReportMetric(us(s.lat), "lat-us")
	b.ReportMetric(us(s.ph.Line), "line-us")
	b.ReportMetric(us(s.ph.Wire), "wire-us")
	b.ReportMetric(us(s.ph.Queue+s.ph.Append+s.ph.Replicate+s.ph.Apply), "node-us")
}

// BenchmarkTimedApplyWire is what timing adds to one Apply on the wire,
// where BenchmarkPut64Phases's noise cannot show it: the response's times
// marshalled on the node and unmarshalled in the controller, against an
// untimed response's, and the node's and the controller's arithmetic.
func BenchmarkTimedApplyWire(b *testing.B) {
	for _, timed := range []bool{false, true} {
		name := "timings=off"
		if timed {
			name = "timings=on"
		}
		b.Run(name, func(b *testing.B) {
			var t core.NodeTimes
			if timed {
				t = core.NodeTimes{Took: 91234, Phases: core.Phases{Queue: 12345, Append: 811, Replicate: 76543, Apply: 2785}}
			}
			resp := make([]byte, 1)
			b.ReportAllocs()
			for b.Loop() {
				out, err := proto.Marshal(applyResponse(42, resp, t, nil))
				if err != nil {
					b.Fatal(err)
				}
				var r phantompb.ApplyResponse
				if err := proto.Unmarshal(out, &r); err != nil {
					b.Fatal(err)
				}
				if timed && r.TookNs != int64(t.Took) {
					b.Fatal("times lost")
				}
			}
		})
	}
}

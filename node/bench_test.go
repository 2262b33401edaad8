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
	gs := grpc.NewServer()
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

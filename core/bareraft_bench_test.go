package core

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/phantomdb/phantom/core/internal/transport"
)

// The yardstick of issue 3's first performance item: phantom's write path
// with 1 shard, 3 nodes, 64 clients and 128-byte values, against a bare
// hashicorp/raft group with the same transport and config and nothing
// between the caller and raft.Apply. Run them side by side:
//
//	go test -run '^$' -bench 'BareRaftApply|CorePut1Shard' -count 5 ./core/ | benchstat -
//
// Both report ns/op (the inverse of throughput: 64 callers share b.N
// operations) and ops/s.

const (
	benchClients   = 64
	benchValueSize = 128
	benchKeys      = 1024 // distinct keys CorePut1Shard cycles through
)

// runClients runs b.N calls of op, spread over n goroutines, and reports the
// throughput. op gets the call's sequence number.
func runClients(b *testing.B, n int, op func(i uint64) error) {
	b.Helper()
	var next atomic.Uint64
	var failed atomic.Bool
	total := uint64(b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total || failed.Load() {
					return
				}
				if err := op(i); err != nil {
					if failed.CompareAndSwap(false, true) {
						b.Error(err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// nopFSM is the bare harness's state machine: it does nothing.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                    { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error)    { return nopSnapshot{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error         { return rc.Close() }
func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}

type nopSnapshot struct{}

// bareGroup is three hashicorp/raft nodes on loopback TCP, each with its own
// transport, in-memory stores and a nopFSM.
type bareGroup struct {
	rafts  []*raft.Raft
	transs []*raft.NetworkTransport
}

// newBareGroup starts the group with the core's Raft config (raftConfig of
// DefaultConfig) and the core's transport settings, over raft's own TCP
// stream layer, and waits for a leader.
func newBareGroup(b *testing.B, n int) (*bareGroup, *raft.Raft) {
	b.Helper()
	cfg := DefaultConfig()
	logger := newLogger(nil)
	g := &bareGroup{}
	b.Cleanup(g.close)
	var servers []raft.Server
	for i := range n {
		trans, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
			MaxPool:         transportMaxPool,
			MaxRPCsInFlight: transportMaxInFlight,
			Timeout:         transportTimeout,
			Logger:          logger,
		})
		if err != nil {
			b.Fatal(err)
		}
		g.transs = append(g.transs, trans)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID("b" + strconv.Itoa(i)), Address: trans.LocalAddr()})
	}
	for i, trans := range g.transs {
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(raftConfig(cfg, string(servers[i].ID), logger), nopFSM{}, store, store, raft.NewInmemSnapshotStore(), transport.New(trans, bareHooks{}))
		if err != nil {
			b.Fatal(err)
		}
		g.rafts = append(g.rafts, r)
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, r := range g.rafts {
			if r.State() == raft.Leader {
				return g, r
			}
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatal("bare raft group elected no leader")
	return nil, nil
}

// bareHooks is a bare group's transport hooks: no fast failover, no counts.
type bareHooks struct{}

func (bareHooks) RetryPreVote() bool { return false }
func (bareHooks) PipelineStarted()   {}
func (bareHooks) PipelineEnded()     {}

// LinkRTT implements transport.Hooks: bare TCP, no simulated network, so
// the transport estimates round trips from heartbeats.
func (bareHooks) LinkRTT(raft.ServerAddress) (time.Duration, bool) { return 0, false }

func (g *bareGroup) close() {
	for _, r := range g.rafts {
		_ = r.Shutdown().Error()
	}
	// raft's NetworkTransport.Close stops only its listener; its pooled
	// outgoing connections stay open, and so do the handler goroutines
	// reading them at the far end, until CloseStreams closes them. The
	// core's stream layer closes and waits for its connections itself.
	for _, t := range g.transs {
		t.CloseStreams()
		_ = t.Close()
	}
}

// BenchmarkBareRaftApply is raft.Apply of 128-byte commands on the leader
// of a bare 3-node group, from 64 callers.
func BenchmarkBareRaftApply(b *testing.B) {
	_, leader := newBareGroup(b, 3)
	cmd := bytes.Repeat([]byte{'x'}, benchValueSize)
	runClients(b, benchClients, func(uint64) error {
		return leader.Apply(cmd, DefaultConfig().OpTimeout).Error()
	})
}

// BenchmarkCorePut1Shard is phantom's Put of 128-byte values on a cluster of
// 3 nodes and 1 shard, from 64 callers.
func BenchmarkCorePut1Shard(b *testing.B) {
	c := newTestCluster(b, 3, oneShard, func(cfg *Config) { cfg.LogOutput = nil })
	value := bytes.Repeat([]byte{'x'}, benchValueSize)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%04d", i)
	}
	ctx := context.Background()
	runClients(b, benchClients, func(i uint64) error {
		return c.Put(ctx, keys[i%benchKeys], value)
	})
}

// BenchmarkCorePut1ShardDisk is BenchmarkCorePut1Shard on disk storage, for
// the cost of fsync'd logs.
func BenchmarkCorePut1ShardDisk(b *testing.B) {
	c := newTestCluster(b, 3, oneShard, func(cfg *Config) {
		cfg.LogOutput = nil
		cfg.Storage = StorageDisk
	})
	value := bytes.Repeat([]byte{'x'}, benchValueSize)
	ctx := context.Background()
	runClients(b, benchClients, func(i uint64) error {
		return c.Put(ctx, "key-"+strconv.FormatUint(i%benchKeys, 10), value)
	})
}

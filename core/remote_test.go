package core

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostConn is a NodeConn to a NodeHost in this process: the remote path of
// the cluster without a transport. Errors go through their wire encoding,
// as over a real line.
type hostConn struct {
	h    *NodeHost
	dead *atomic.Bool
}

func (c hostConn) check() error {
	if c.dead.Load() {
		return ErrNodeUnreachable
	}
	return nil
}

func overWire(err error) error { return DecodeError(EncodeError(err)) }

func (c hostConn) StartReplica(ctx context.Context, spec []byte) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	a, err := c.h.StartReplica(ctx, spec)
	return a, overWire(err)
}

func (c hostConn) StopReplica(ctx context.Context, shard int, drop bool) error {
	if err := c.check(); err != nil {
		return err
	}
	return overWire(c.h.StopReplica(ctx, shard, drop))
}

func (c hostConn) Apply(ctx context.Context, shard int, cmd []byte, timeout time.Duration, timed bool) (uint64, []byte, NodeTimes, error) {
	if err := c.check(); err != nil {
		return 0, nil, NodeTimes{}, err
	}
	i, r, t, err := c.h.Apply(ctx, shard, cmd, timeout, timed)
	return i, r, t, overWire(err)
}

func (c hostConn) Read(ctx context.Context, shard int, q []byte, timeout time.Duration, timed bool) ([]byte, NodeTimes, error) {
	if err := c.check(); err != nil {
		return nil, NodeTimes{}, err
	}
	b, t, err := c.h.Read(ctx, shard, q, timeout, timed)
	return b, t, overWire(err)
}

func (c hostConn) Raft(ctx context.Context, shard int, op []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	b, err := c.h.Raft(ctx, shard, op)
	return b, overWire(err)
}

func (c hostConn) Network(ctx context.Context, op []byte) error {
	if err := c.check(); err != nil {
		return err
	}
	return overWire(c.h.Network(ctx, op))
}

func (c hostConn) Status(ctx context.Context) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.h.Status(ctx)
}

func (c hostConn) Ping(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	return overWire(c.h.Ping(ctx))
}

func (c hostConn) Watch(ctx context.Context, f func(int, string, uint64)) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.h.Watch(ctx, func(s int, l string, t uint64) {
		if !c.dead.Load() {
			f(s, l, t)
		}
	})
}

func (c hostConn) Close() error { return nil }

// hostLauncher runs each node as a NodeHost in this process; Kill closes
// it and cuts its line, Restart makes a new one over the same data dir.
type hostLauncher struct {
	storage, dir string
	mu           sync.Mutex
	hosts        map[string]*NodeHost
	dead         map[string]*atomic.Bool
}

func (l *hostLauncher) start(id string) (NodeConn, error) {
	h, err := NewNodeHost(NodeHostConfig{ID: id, Storage: l.storage, DataDir: filepath.Join(l.dir, id)})
	if err != nil {
		return nil, err
	}
	dead := new(atomic.Bool)
	l.mu.Lock()
	l.hosts[id], l.dead[id] = h, dead
	l.mu.Unlock()
	return hostConn{h: h, dead: dead}, nil
}

func (l *hostLauncher) Start(_ context.Context, id string, _ int) (NodeConn, error) {
	return l.start(id)
}

func (l *hostLauncher) Kill(id string) error {
	l.mu.Lock()
	h, dead := l.hosts[id], l.dead[id]
	l.mu.Unlock()
	if h == nil {
		return fmt.Errorf("no node %s", id)
	}
	dead.Store(true)
	return h.Close()
}

func (l *hostLauncher) Restart(_ context.Context, id string) (NodeConn, error) { return l.start(id) }

func (l *hostLauncher) Release(id string) error { return l.Kill(id) }

func (l *hostLauncher) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for id, h := range l.hosts {
		l.dead[id].Store(true)
		errs = append(errs, h.Close())
	}
	return errors.Join(errs...)
}

func newHostLauncher(t *testing.T, storage string) *hostLauncher {
	return &hostLauncher{storage: storage, dir: t.TempDir(), hosts: map[string]*NodeHost{}, dead: map[string]*atomic.Bool{}}
}

// TestRemoteReplicas drives a cluster whose replicas run in node hosts
// behind NodeConns: puts, reads, a transaction, a crash and restart of a
// node, and a kill of a leader.
func TestRemoteReplicas(t *testing.T) {
	for _, storage := range []string{StorageMemory, StorageDisk} {
		t.Run(storage, func(t *testing.T) {
			c := newTestCluster(t, 3, func(cfg *Config) {
				cfg.Shards = 2
				cfg.Storage = storage
				cfg.Launcher = newHostLauncher(t, storage)
			})
			ctx := testContext(t)
			for i := range 20 {
				if err := c.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			if v, err := c.Get(ctx, "k3"); err != nil || string(v) != "v" {
				t.Fatalf("get k3 = %q, %v", v, err)
			}
			if _, err := c.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get of a missing key: %v", err)
			}
			if err := c.Put(ctx, "a", []byte("100")); err != nil {
				t.Fatal(err)
			}
			if err := c.Put(ctx, "b", []byte("0")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Txn(ctx, Txn{Ops: []Op{Add("a", -30), Add("b", 30)}}); err != nil {
				t.Fatal(err)
			}
			if sum, neg, err := c.SumInts(ctx, []string{"a", "b"}); err != nil || sum != 100 || neg != 0 {
				t.Fatalf("sum = %d, %d negative, %v", sum, neg, err)
			}
			if _, err := c.Txn(ctx, Txn{Ops: []Op{Add("a", -300), Add("b", 300)}}); !errors.Is(err, ErrConditionFailed) {
				t.Fatalf("overdraft: %v", err)
			}
			leader, err := c.ShardLeader(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CrashNode(leader); err != nil {
				t.Fatal(err)
			}
			if err := c.Put(ctx, "after-crash", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := c.RestartNode(ctx, leader); err != nil {
				t.Fatal(err)
			}
			if storage == StorageMemory {
				// The node came back empty: it rejoined its groups as a new
				// member does, so it has caught up by the time RestartNode
				// returns.
				if v, ok, err := c.LocalGet(leader, "k3"); err != nil || !ok || string(v) != "v" {
					t.Fatalf("k3 on the restarted %s = %q, %v, %v: not caught up", leader, v, ok, err)
				}
			}
			if err := c.PutReplicated(ctx, "after-restart", []byte("y")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.KillLeader(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, "k7"); err != nil || string(v) != "v" {
				t.Fatalf("get k7 after the faults = %q, %v", v, err)
			}
			if err := c.Heartbeat(ctx, leader); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every shard's leader in Status", func() bool {
				for _, sh := range c.Status().Shards {
					if sh.Leader == "" {
						return false
					}
				}
				return true
			})
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

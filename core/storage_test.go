package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// onDisk is an option for tests of disk storage, with snapshots frequent
// enough that restarts restore from snapshot files as well as the log.
func onDisk(cfg *Config) {
	cfg.Storage = StorageDisk
	cfg.SnapshotThreshold = 64
	cfg.TrailingLogs = 16
	cfg.SnapshotInterval = 50 * time.Millisecond
}

// acked records the writes a cluster acknowledged.
type acked struct {
	mu   sync.Mutex
	vals map[string][]byte
}

// putBatch writes n keys with prefix from 8 callers and records them; every
// Put must succeed, retrying leader changes within its deadline.
func (a *acked) putBatch(t *testing.T, c *Cluster, prefix string, n int) {
	t.Helper()
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprintf("%s-%03d", prefix, i)
				val := bytes.Repeat([]byte(key), 4)
				if err := c.Put(ctx, key, val); err != nil {
					errs <- fmt.Errorf("Put(%s): %w", key, err)
					continue
				}
				a.mu.Lock()
				a.vals[key] = val
				a.mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkAll reads every acknowledged write back through Get.
func (a *acked) checkAll(t *testing.T, c *Cluster) {
	t.Helper()
	ctx := testContext(t)
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, want := range a.vals {
		got, err := c.Get(ctx, k)
		if err != nil {
			t.Errorf("Get(%s): %v", k, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Get(%s) = %q, want %q", k, got, want)
		}
	}
}

// walLastIndex opens a crashed replica's log directory, as a restarted
// process would, and returns the last index it holds.
func walLastIndex(t *testing.T, dir string) uint64 {
	t.Helper()
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(filepath.Join(dir, "wal"), wal.WithMetaStore(meta), wal.WithLogger(newLogger(nil)))
	if err != nil {
		t.Fatalf("open the log in %s: %v", dir, err)
	}
	defer func() {
		if err := errors.Join(w.Close(), meta.Close()); err != nil {
			t.Errorf("close the log in %s: %v", dir, err)
		}
	}()
	last, err := w.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// crashAndRestart crashes node, checks that each of its replicas' logs on
// disk holds at least what raft had written before the crash, writes while
// it is down, restarts it and checks that its replicas run over logs
// reopened from those directories.
func crashAndRestart(t *testing.T, c *Cluster, a *acked, node, prefix string) {
	t.Helper()
	n := c.byID[node]
	lastBefore := map[*seat]uint64{}
	for _, st := range n.seats() {
		lastBefore[st] = st.replica().raft.LastIndex()
	}
	if err := c.CrashNode(node); err != nil {
		t.Fatalf("CrashNode(%s): %v", node, err)
	}
	for st, before := range lastBefore {
		if got := walLastIndex(t, st.dir); got < before {
			t.Errorf("shard %d on %s: log on disk ends at %d after the crash, raft had written %d", st.shard.id, node, got, before)
		}
	}
	a.putBatch(t, c, prefix+"-down", 40)
	if err := c.RestartNode(testContext(t), node); err != nil {
		t.Fatalf("RestartNode(%s): %v", node, err)
	}
	for _, st := range n.seats() {
		if _, ok := st.logs.(*wal.WAL); !ok {
			t.Errorf("shard %d on %s: log store is %T after restart, want *wal.WAL", st.shard.id, node, st.logs)
		}
	}
	a.putBatch(t, c, prefix+"-up", 40)
	for sh := range c.Shards() {
		waitCaughtUp(t, c, sh)
	}
}

// On disk, no acknowledged write is lost across a crash and restart of a
// follower's node and of the leader's node; the temporary data directory
// is gone after Close.
func TestDiskCrashRestart(t *testing.T) {
	c := newTestCluster(t, 3, onDisk)
	dir := c.DataDir()
	if dir == "" {
		t.Fatal("DataDir is empty in disk mode")
	}
	a := &acked{vals: map[string][]byte{}}
	a.putBatch(t, c, "start", 120)

	leader, err := c.ShardLeader(testContext(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	var follower string
	for _, id := range replicaNodes(c) {
		if id != leader {
			follower = id
			break
		}
	}
	t.Logf("shard 0: leader %s, crashing follower %s first", leader, follower)
	crashAndRestart(t, c, a, follower, "follower")
	crashAndRestart(t, c, a, leader, "leader")
	// KillLeader restarts the killed replica alone, over its directory.
	if _, err := c.KillLeader(testContext(t), 0); err != nil {
		t.Fatalf("KillLeader: %v", err)
	}
	a.putBatch(t, c, "killed", 40)

	// The restarted nodes serve what they missed and what they had.
	for _, id := range []string{follower, leader} {
		for k, v := range map[string][]byte{"start-000": a.vals["start-000"], "leader-down-000": a.vals["leader-down-000"]} {
			if c.ShardOf(k) == 0 {
				waitReplicated(t, c, []string{id}, k, v)
			}
		}
	}
	a.checkAll(t, c)

	snaps, _ := filepath.Glob(filepath.Join(dir, "shard-*", "*", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Error("no snapshot files on disk")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data dir %s after Close: %v, want it gone", dir, err)
	}
}

// A data directory the caller gives survives Close, with the replicas'
// files in it; a non-empty one is refused.
func TestDiskGivenDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := newTestCluster(t, 1, onDisk, func(cfg *Config) { cfg.DataDir = dir })
	if got := c.DataDir(); got != dir {
		t.Errorf("DataDir() = %q, want %q", got, dir)
	}
	if err := c.Put(testContext(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "shard-0", "n1", "wal", "*.wal"))
	if len(segs) == 0 {
		t.Errorf("no WAL segment in %s after Close", dir)
	}

	cfg := DefaultConfig()
	cfg.Nodes = 1
	cfg.Storage = StorageDisk
	cfg.DataDir = dir
	if c, err := NewCluster(context.Background(), cfg); err == nil {
		_ = c.Close()
		t.Error("NewCluster over a non-empty data dir succeeded")
	} else if !strings.Contains(err.Error(), "not empty") {
		t.Errorf("NewCluster over a non-empty data dir: %v", err)
	}
}

func TestValidateStorage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Storage = "tape"
	err := cfg.Validate()
	want := `core: storage must be "memory" or "disk", got "tape"`
	if err == nil || err.Error() != want {
		t.Errorf("Validate(storage tape) = %v, want %s", err, want)
	}
	for _, s := range []string{"", StorageMemory, StorageDisk} {
		cfg.Storage = s
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(storage %q) = %v", s, err)
		}
	}
}

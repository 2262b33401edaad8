package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

func TestPutIsAppliedOnEveryReplica(t *testing.T) {
	tests := []struct {
		nodes        int
		wantReplicas []string
	}{
		{nodes: 1, wantReplicas: []string{"n1"}},
		{nodes: 3, wantReplicas: []string{"n1", "n2", "n3"}},
		{nodes: 5, wantReplicas: []string{"n1", "n2", "n3"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d nodes", tt.nodes), func(t *testing.T) {
			c := newTestCluster(t, tt.nodes, oneShard)
			ctx := testContext(t)
			if got := replicaNodes(c); !slices.Equal(got, tt.wantReplicas) {
				t.Fatalf("replicas on %v, want %v", got, tt.wantReplicas)
			}
			leader, err := c.WaitLeader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tt.wantReplicas, leader) {
				t.Errorf("leader %s hosts no replica", leader)
			}

			value := []byte("hello")
			if err := c.Put(ctx, "greeting", value); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, err := c.Get(ctx, "greeting")
			if err != nil || !bytes.Equal(got, value) {
				t.Fatalf("Get = %q, %v; want %q", got, err, value)
			}
			waitReplicated(t, c, tt.wantReplicas, "greeting", value)

			for i := len(tt.wantReplicas); i < tt.nodes; i++ {
				id := "n" + strconv.Itoa(i+1)
				if _, _, err := c.LocalGet(id, "greeting"); !errors.Is(err, ErrUnknownNode) {
					t.Errorf("LocalGet on %s, which hosts no replica: err = %v, want ErrUnknownNode", id, err)
				}
			}
		})
	}
}

func TestValuesAreCopied(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	value := []byte("original")
	if err := c.Put(ctx, "k", value); err != nil {
		t.Fatal(err)
	}
	copy(value, "mutated!")
	got, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "original" {
		t.Fatalf("Get = %q after the caller reused its buffer, want %q", got, "original")
	}
	copy(got, "mutated!")
	if again, _ := c.Get(ctx, "k"); string(again) != "original" {
		t.Fatalf("Get = %q after the caller changed an earlier result, want %q", again, "original")
	}
}

func TestAcknowledgedWriteSurvivesLeaderCrash(t *testing.T) {
	c := newTestCluster(t, 3, oneShard)
	ctx := testContext(t)
	if err := c.Put(ctx, "before", []byte("v1")); err != nil {
		t.Fatalf("Put before the crash: %v", err)
	}
	old, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CrashNode(old); err != nil {
		t.Fatalf("CrashNode(%s): %v", old, err)
	}

	got, err := c.Get(ctx, "before")
	if err != nil || string(got) != "v1" {
		t.Fatalf("Get after the leader crashed = %q, %v; want v1", got, err)
	}
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader == old {
		t.Fatalf("leader is still the stopped node %s", old)
	}
	if err := c.Put(ctx, "after", []byte("v2")); err != nil {
		t.Fatalf("Put after the crash: %v", err)
	}
	if got, err := c.Get(ctx, "after"); err != nil || string(got) != "v2" {
		t.Fatalf("Get = %q, %v; want v2", got, err)
	}
	var alive []string
	for _, id := range replicaNodes(c) {
		if id != old {
			alive = append(alive, id)
		}
	}
	waitReplicated(t, c, alive, "after", []byte("v2"))

	waitFor(t, "two leader changes counted", func() bool { return c.Status().LeaderChanges >= 2 })
	st := c.Status()
	for _, n := range st.Nodes {
		if n.ID == old && n.Up {
			t.Errorf("stopped node %s reported up", old)
		}
	}
	for _, r := range st.Shards[0].Replicas {
		if r.Node == old && r.State != "shutdown" {
			t.Errorf("stopped node's replica state = %q, want shutdown", r.State)
		}
	}
	if err := c.CrashNode(old); err != nil {
		t.Errorf("stopping %s again: %v", old, err)
	}
}

func TestCallsGiveUpAtDeadlineWithoutQuorum(t *testing.T) {
	c := newTestCluster(t, 3)
	if err := c.Put(testContext(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2"} {
		if err := c.CrashNode(id); err != nil {
			t.Fatal(err)
		}
	}
	calls := map[string]func(context.Context) error{
		"Put": func(ctx context.Context) error { return c.Put(ctx, "k", []byte("w")) },
		"Get": func(ctx context.Context) error { _, err := c.Get(ctx, "k"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := call(ctx)
			if !errors.Is(err, ErrNoLeader) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want ErrNoLeader and context.DeadlineExceeded", err)
			}
		})
	}
}

func TestGetMissingKey(t *testing.T) {
	c := newTestCluster(t, 3)
	if _, err := c.Get(testContext(t), "absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(absent): err = %v, want ErrNotFound", err)
	}
}

func TestCallsAfterClose(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	calls := map[string]error{
		"Put":        c.Put(ctx, "k", []byte("v")),
		"CrashNode":  c.CrashNode("n1"),
		"WaitLeader": func() error { _, err := c.WaitLeader(ctx); return err }(),
		"Get":        func() error { _, err := c.Get(ctx, "k"); return err }(),
		"LocalGet":   func() error { _, _, err := c.LocalGet("n1", "k"); return err }(),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	for _, n := range c.Status().Nodes {
		if n.Up {
			t.Errorf("node %s up after Close", n.ID)
		}
	}
}

func TestCloseDuringLoad(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range cap(errs) {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d-%d", w, i%16)
				err := c.Put(ctx, key, []byte("v"))
				if err == nil {
					_, err = c.Get(ctx, key)
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	waitFor(t, "load under way", func() bool { return done.Load() >= 50 })
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call in flight during Close: err = %v, want ErrClosed", err)
		}
	}
}

func TestSnapshotsBoundTheLog(t *testing.T) {
	const threshold, trailing, keys = 64, 32, 600
	c := newTestCluster(t, 3, oneShard, func(cfg *Config) {
		cfg.SnapshotThreshold = threshold
		cfg.TrailingLogs = trailing
		cfg.SnapshotInterval = 20 * time.Millisecond
	})
	ctx := testContext(t)
	value := func(i int) []byte { return []byte("value-" + strconv.Itoa(i)) }

	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < keys; i += workers {
				if err := c.Put(ctx, "key-"+strconv.Itoa(i), value(i)); err != nil {
					t.Errorf("Put %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// A replica snapshots once threshold entries have piled up since the
	// last snapshot and then keeps trailing entries, so once the writes
	// stop every log settles below threshold+trailing entries.
	nodes := replicaNodes(c)
	for _, id := range nodes {
		waitFor(t, "log of "+id+" compacted", func() bool {
			first, _ := logSpan(t, c, id)
			return first > 1 && logEntries(t, c, id) < threshold+trailing
		})
	}
	for i := range keys {
		waitReplicated(t, c, nodes, "key-"+strconv.Itoa(i), value(i))
	}
	for i := 0; i < keys; i += 37 {
		if got, err := c.Get(ctx, "key-"+strconv.Itoa(i)); err != nil || !bytes.Equal(got, value(i)) {
			t.Errorf("Get(key-%d) = %q, %v; want %q", i, got, err, value(i))
		}
	}
}

func TestStatus(t *testing.T) {
	eachLinks(t, testStatus)
}

func testStatus(t *testing.T, links func(*Config)) {
	var cfg Config
	links(&cfg)
	c := newTestCluster(t, 5, oneShard, links)
	ctx := testContext(t)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first election counted", func() bool { return c.Status().LeaderChanges >= 1 })

	st := c.Status()
	// Each counted change is a leader winning a distinct term, so the count
	// cannot pass the term reached since; every replica reporting the same
	// election would.
	if term := c.Status().Shards[0].Term; st.LeaderChanges > term {
		t.Errorf("%d leader changes counted by term %d: elections counted more than once", st.LeaderChanges, term)
	}
	if len(st.Nodes) != 5 || len(st.Shards) != 1 {
		t.Fatalf("status has %d nodes and %d shards, want 5 and 1", len(st.Nodes), len(st.Shards))
	}
	addrs := map[string]bool{}
	leaderships := 0
	for i, n := range st.Nodes {
		if want := "n" + strconv.Itoa(i+1); n.ID != want {
			t.Errorf("node %d id = %q, want %q", i, n.ID, want)
		}
		if !n.Up {
			t.Errorf("%s down", n.ID)
		}
		leaderships += n.Leaderships
		if i >= 3 {
			if n.Addr != "" || n.Replicas != 0 {
				t.Errorf("%s: addr %q, %d replicas; want none", n.ID, n.Addr, n.Replicas)
			}
			continue
		}
		if !validLinkAddr(n.Addr, cfg.Links) || addrs[n.Addr] {
			t.Errorf("%s addr = %q, want a distinct one of %s links", n.ID, n.Addr, cfg.Links)
		}
		addrs[n.Addr] = true
		if n.Replicas != 1 {
			t.Errorf("%s hosts %d replicas, want 1", n.ID, n.Replicas)
		}
	}
	if leaderships != 1 {
		t.Errorf("nodes lead %d shards in all, want 1", leaderships)
	}

	sh := st.Shards[0]
	if sh.Leader != leader || sh.Term == 0 {
		t.Errorf("shard leader %q in term %d, want %s in a term > 0", sh.Leader, sh.Term, leader)
	}
	states := map[string]int{}
	for _, r := range sh.Replicas {
		states[r.State]++
		if r.Node == leader && (r.CommitIndex == 0 || r.AppliedIndex > r.CommitIndex || r.CommitIndex > r.LastIndex) {
			t.Errorf("leader indexes: commit %d, applied %d, last %d", r.CommitIndex, r.AppliedIndex, r.LastIndex)
		}
	}
	if states["leader"] != 1 || states["follower"] != 2 {
		t.Errorf("replica states %v, want 1 leader and 2 followers", states)
	}
}

func TestRaftLogsGoToLogOutput(t *testing.T) {
	var buf lockedBuffer
	c, err := NewCluster(testContext(t), Config{
		Nodes:              1,
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		OpTimeout:          time.Second,
		SnapshotInterval:   time.Second,
		SnapshotThreshold:  1024,
		MaxAppendEntries:   64,
		HeartbeatInterval:  100 * time.Millisecond,
		SuspectAfter:       300 * time.Millisecond,
		DownAfter:          time.Second,
		LogOutput:          &buf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "entering leader state") {
		t.Fatalf("LogOutput got no raft election lines:\n%s", out)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNewClusterStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := DefaultConfig()
	c, err := NewCluster(ctx, cfg)
	if !errors.Is(err, context.Canceled) || c != nil {
		t.Fatalf("NewCluster with an ended context = %v, %v; want nil and context.Canceled", c, err)
	}
	// TestMain's leak check shows whether it cleaned up.
}

func TestNewClusterRejectsBadConfig(t *testing.T) {
	c, err := NewCluster(context.Background(), Config{})
	if err == nil || c != nil {
		t.Fatalf("NewCluster(Config{}) = %v, %v; want an error", c, err)
	}
}

func TestUnknownNode(t *testing.T) {
	c := newTestCluster(t, 3)
	if err := c.CrashNode("n4"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("CrashNode(n4): err = %v, want ErrUnknownNode", err)
	}
	if _, _, err := c.LocalGet("x", "k"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("LocalGet(x): err = %v, want ErrUnknownNode", err)
	}
}

// BenchmarkPut measures replicated writes of 128-byte values on three nodes.
// Many writers per core keep raft's batches full, as a load test's clients
// would.
func BenchmarkPut(b *testing.B) {
	c := newTestCluster(b, 3, func(cfg *Config) {
		// A benchmark prints every b.Log line, pass or fail.
		cfg.LogOutput = nil
	})
	value := bytes.Repeat([]byte{'x'}, 128)
	var seq atomic.Uint64
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			key := "key-" + strconv.FormatUint(seq.Add(1)%4096, 10)
			if err := c.Put(ctx, key, value); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// validLinkAddr reports whether addr is one that links (Config.Links) give
// a replica: a name in the abstract Unix-socket namespace, or a port on
// 127.0.0.1.
func validLinkAddr(addr, links string) bool {
	if links == LinksUnix || (links == "" && netsim.UnixLinks) {
		return strings.HasPrefix(addr, "@phantom.")
	}
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr() == netip.MustParseAddr("127.0.0.1") && ap.Port() != 0
}

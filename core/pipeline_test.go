package core

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core/internal/transport"
)

// TestPipelinedReplicationSurvivesLeaderChurn moves and kills leaders of
// many shards under a steady write load, over links slow enough for
// replication to be pipelined, which makes deposed leaders' pipelines meet
// refused appends again and again. Bare raft pipelines wedge there (see
// transport.Transport): a follower stops receiving entries and Close hangs.
// raft's default window of 2 in-flight appends makes that likely: without
// relayPipeline about half the runs of this test hang on a busy machine
// (two CPU burners beside it on two cores), fewer on an idle one; the
// core's larger window only makes it rarer. Here every acknowledged write
// must reach every replica, and Close must return.
func TestPipelinedReplicationSurvivesLeaderChurn(t *testing.T) {
	const (
		shards  = 8
		writers = 8
		rounds  = 48
	)
	pipelines := newPipelineCount()
	setHooks(t, testHooks{maxInFlight: 2, onPipeline: pipelines.add})
	w := &logWriter{t: t}
	t.Cleanup(w.stop)
	cfg := DefaultConfig()
	cfg.Nodes = 3
	cfg.Shards = shards
	cfg.LogOutput = w
	ctx := testContext(t)
	c, err := NewCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Runs after a failure too, where a stuck raft would hang a plain Close.
	defer closeOrFail(t, c)
	if err := c.SetAllLinks(Link{Delay: transport.PipelineMinRTT}); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []string // keys whose Put returned nil; the value is the key
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for wr := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := "w" + strconv.Itoa(wr) + "-" + strconv.Itoa(i)
				if err := c.Put(ctx, key, []byte(key)); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNoLeader) {
						t.Errorf("Put %s: %v", key, err)
					}
					continue
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		})
	}
	for round := range rounds {
		shard := round % shards
		var err error
		if round%3 == 2 {
			_, err = c.KillLeader(ctx, shard)
		} else {
			err = c.TransferLeader(ctx, shard)
		}
		if err != nil {
			// raft gives a transfer one election timeout, which a
			// loaded race-detector run can miss; the churn goes on.
			t.Logf("round %d on shard %d: %v", round, shard, err)
		}
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	keys := acked
	mu.Unlock()
	if len(keys) == 0 {
		t.Fatal("no Put succeeded")
	}
	// Not waitCaughtUp: a leader elected by the last round may not have
	// committed an entry of its own term yet, and until it does its
	// commit index can lag what its predecessor acknowledged. A replica
	// whose replication is stuck never gets there.
	firstMissing := func() string {
		for _, key := range keys {
			for _, node := range shardNodes(c, c.ShardOf(key)) {
				got, ok, err := c.LocalGet(node, key)
				if err != nil || !ok || !bytes.Equal(got, []byte(key)) {
					return key + " on " + node
				}
			}
		}
		return ""
	}
	deadline := time.Now().Add(waitTimeout)
	for missing := firstMissing(); missing != ""; missing = firstMissing() {
		if time.Now().After(deadline) {
			t.Fatalf("acknowledged write %s still missing after %v", missing, waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	opened, _ := pipelines.counts(c.shards...)
	if opened == 0 {
		t.Error("no replica pipelined its replication")
	}
	t.Logf("%d acknowledged writes on every replica after %d leader changes; %d pipelines on the last replicas", len(keys), rounds, opened)
}

// closeOrFail closes c, failing t if Close has not returned after
// waitTimeout, which only a stuck raft goroutine takes.
func closeOrFail(t *testing.T, c *Cluster) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Errorf("Close still running after %v: a raft goroutine is stuck", waitTimeout)
	}
}

// TestPipelineEndsWhenTheLinkSpeedsUp slows the links until replication is
// pipelined, then lifts the delay: the pipelines must close themselves, and
// no write may be lost on the way back to synchronous appends.
func TestPipelineEndsWhenTheLinkSpeedsUp(t *testing.T) {
	pipelines := newPipelineCount()
	setHooks(t, testHooks{onPipeline: pipelines.add})
	c := newTestCluster(t, 3, oneShard)
	ctx := testContext(t)
	relaying := func() int64 {
		_, n := pipelines.counts(c.shards[0])
		return n
	}
	i := 0
	put := func() {
		key := "k" + strconv.Itoa(i)
		i++
		if err := c.Put(ctx, key, []byte(key)); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	if err := c.SetAllLinks(Link{Delay: transport.PipelineMinRTT}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pipelined replication", func() bool { put(); return relaying() > 0 })
	if err := c.SetAllLinks(Link{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pipelines to close", func() bool { put(); return relaying() == 0 })
	put()
	waitCaughtUp(t, c, 0)
	for j := range i {
		key := "k" + strconv.Itoa(j)
		for _, node := range shardNodes(c, 0) {
			if got, ok, _ := c.LocalGet(node, key); !ok || string(got) != key {
				t.Fatalf("acknowledged %s on %s: got %q, %v", key, node, got, ok)
			}
		}
	}
}

// TestLargeValuesOverASlowLinkKeepTheirWindowAndTheirLeader writes large
// values from several writers over links slow enough for replication to be
// pipelined, one entry an append (as the runner sizes the log for 1 MiB
// values), so that the transport's window of appends alone would let all
// the writers' values be in flight to each follower at once. The window of
// bytes is scaled down with the values (a -race run on two busy cores
// cannot move MiBs in time). The bytes in flight must stay within it, every
// write must be acknowledged and reach every replica, and no election may
// happen: heartbeats go on connections of their own and must not wait
// behind the bulk appends.
func TestLargeValuesOverASlowLinkKeepTheirWindowAndTheirLeader(t *testing.T) {
	const (
		writers = 8
		value   = 64 << 10
		window  = 3*value + value/2
	)
	pipelines := newPipelineCount()
	setHooks(t, testHooks{onPipeline: pipelines.add, pipelineWindow: window})
	c := newTestCluster(t, 3, oneShard, func(cfg *Config) {
		cfg.MaxAppendEntries = 1
		// The seed's timeouts on 2 cores (loadScale): at 50 ms a -race
		// run on a busy machine loses a lease now and then to CPU
		// starvation alone, which is not what this test looks for.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 250*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	})
	ctx := testContext(t)
	if err := c.SetAllLinks(Link{Delay: 2 * transport.PipelineMinRTT}); err != nil {
		t.Fatal(err)
	}
	_, since := c.Elections(0)
	payload := bytes.Repeat([]byte{'v'}, value)
	deadline := time.Now().Add(time.Second)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		acked  int
		failed error
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				if err := c.Put(ctx, "w"+strconv.Itoa(w)+"-"+strconv.Itoa(i%4), payload); err != nil {
					mu.Lock()
					failed = cmp.Or(failed, err)
					mu.Unlock()
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatalf("Put: %v", failed)
	}
	if opened, _ := pipelines.counts(c.shards[0]); opened == 0 {
		t.Fatal("replication was never pipelined: the test tested nothing")
	}
	var peak int64
	for _, st := range c.shards[0].seats() {
		peak = max(peak, st.replica().trans.PeakPipelineBytes())
	}
	if peak > window {
		t.Errorf("%d bytes were in flight to a follower, over the %d-byte window", peak, window)
	}
	if peak < 2*value {
		t.Errorf("at most %d bytes were in flight: never two values at once, so the window was never tried", peak)
	}
	waitCaughtUp(t, c, 0)
	if ev, _ := c.Elections(since); len(ev) > 0 {
		t.Errorf("%d elections while writing large values over a slow link, first %+v", len(ev), ev[0])
	}
	t.Logf("%d writes of %d bytes acknowledged, peak %d bytes in flight", acked, value, peak)
}

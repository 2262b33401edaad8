package node

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/phantomdb/phantom/api/phantompb"
	"github.com/phantomdb/phantom/core"
)

// Large values cross the gRPC hop: puts that together are many times
// gRPC's default 4 MiB message limit (the line batches them, at most
// MaxBatchBytes a call), and one value larger than the limit on its own,
// written and read back. Before either bound, every 1 MiB put of 16
// clients failed in processes mode, and a 16 MiB one never got through.
func TestLargeValuesCrossTheHop(t *testing.T) {
	l := &inProcess{servers: map[string]*grpc.Server{}, hosts: map[string]*core.NodeHost{}}
	cfg := core.DefaultConfig()
	cfg.Nodes, cfg.Shards = 3, 1
	cfg.Launcher = l
	cfg.LogOutput = nil
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := core.NewCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	mib := bytes.Repeat([]byte("m"), 1<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			if err := c.Put(ctx, fmt.Sprintf("m%d", i), mib); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a 1 MiB put of 16 at once: %v", err)
	}

	big := bytes.Repeat([]byte("b"), 6<<20)
	if err := c.Put(ctx, "big", big); err != nil {
		t.Fatalf("a 6 MiB put: %v", err)
	}
	got, err := c.Get(ctx, "big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("reading the 6 MiB value back: %d bytes, %v", len(got), err)
	}
}

func TestBatchLenBoundsBytes(t *testing.T) {
	cmd := func(n int) *pendingApply {
		return &pendingApply{req: &phantompb.ApplyRequest{Command: make([]byte, n)}}
	}
	q := []*pendingApply{cmd(3 << 20), cmd(1 << 20), cmd(1 << 20), cmd(10)}
	if n := batchLen(q); n != 2 {
		t.Errorf("batchLen of 3+1+1 MiB = %d, want 2 (4 MiB)", n)
	}
	if n := batchLen([]*pendingApply{cmd(20 << 20), cmd(1)}); n != 1 {
		t.Errorf("a command over the bound goes alone: batchLen = %d, want 1", n)
	}
	if n := batchLen([]*pendingApply{cmd(1), cmd(1), cmd(1)}); n != 3 {
		t.Errorf("small commands all go: batchLen = %d, want 3", n)
	}
	if n := batchLen(nil); n != 0 {
		t.Errorf("batchLen of nothing = %d", n)
	}
}

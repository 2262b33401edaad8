package core

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// Once PutReplicated returns, every replica of the shard has the value —
// not only a quorum.
func TestPutReplicatedReachesEveryReplica(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.Shards = 1 })
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		key, want := "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		if err := c.PutReplicated(ctx, key, []byte(want)); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"n1", "n2", "n3"} {
			v, ok, err := c.LocalGet(id, key)
			if err != nil || !ok || string(v) != want {
				t.Fatalf("right after PutReplicated, %s has %q (%v, %v), want %q", id, v, ok, err, want)
			}
		}
	}
}

// A replica cut off from the others holds PutReplicated back until the
// deadline: the write reached a quorum, not the whole group.
func TestPutReplicatedWaitsForACutOffReplica(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.Shards = 1 })
	leader, err := c.WaitLeader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	follower := "n1"
	if leader == "n1" {
		follower = "n2"
	}
	if err := c.Partition(follower); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.PutReplicated(ctx, "k", []byte("v")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline while %s is cut off", err, follower)
	}
	c.Heal()
	if err := c.PutReplicated(context.Background(), "k2", []byte("v")); err != nil {
		t.Errorf("after heal: %v", err)
	}
}

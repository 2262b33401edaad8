package suites

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// consensusSuite measures Raft itself: how long a replicated command takes
// to commit.
type consensusSuite struct{}

const (
	opSubmit = iota // consensus.submit: a replicated put, committed by a quorum and applied on the leader
)

func (consensusSuite) Name() string { return "consensus" }

func (consensusSuite) Description() string {
	return "Raft command submission: replicated puts committed by a quorum"
}

func (consensusSuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{{Name: "consensus.submit", Suite: "consensus", Primary: true}}
}

func (consensusSuite) Prepare(_ context.Context, env Env) (Workload, error) {
	w := &consensusWorkload{cluster: env.Cluster, seed: env.Seed}
	// One shared payload: values are never mutated, and the core copies
	// what it needs into the Raft log.
	w.payload = make([]byte, env.DataSize)
	rng := rand.New(rand.NewPCG(uint64(env.Seed), 0x70ace))
	for i := range w.payload {
		w.payload[i] = byte(rng.Uint32())
	}
	w.keys = make([]string, env.Keys)
	for i := range w.keys {
		w.keys[i] = "c/" + strconv.Itoa(i)
	}
	return w, nil
}

type consensusWorkload struct {
	cluster *core.Cluster
	payload []byte
	keys    []string
	seed    int64
}

func (w *consensusWorkload) Client(id int) Client {
	return &consensusClient{w: w, rng: rand.New(rand.NewPCG(uint64(w.seed), uint64(id)+1))}
}

type consensusClient struct {
	w   *consensusWorkload
	rng *rand.Rand
}

func (c *consensusClient) Do(ctx context.Context, rec *metrics.Recorder) {
	key := c.w.keys[c.rng.IntN(len(c.w.keys))]
	start := time.Now()
	err := c.w.cluster.Put(ctx, key, c.w.payload)
	d := time.Since(start)
	switch {
	case err == nil:
		rec.Record(opSubmit, d)
	case ctx.Err() != nil:
		// The run ended while this put waited: not a failure of the cluster.
	default:
		rec.Fail(opSubmit, errorKind(err))
	}
}

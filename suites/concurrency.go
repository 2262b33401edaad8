package suites

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// concurrencySuite measures contention: many clients on a hot key set
// reading, writing and updating by transaction, with conflicts and retries
// counted, while nodes join and leave.
type concurrencySuite struct{}

// The concurrency suite's ops, in the order of Ops.
const (
	opCCRead       = iota // a linearizable read of a key from the distribution
	opCCWrite             // a put of data-size bytes
	opCCRMW               // a read-modify-write of two counters by 2PC, retried on conflict
	opCCNodeAdd           // a node joins while the load runs
	opCCNodeRemove        // and leaves again
)

const (
	ccCounters   = 64 // counters the read-modify-write transactions update
	ccMaxRetries = 5  // attempts of a conflicted read-modify-write before giving up
	ccChurnEvery = 2 * time.Second
)

func (concurrencySuite) Name() string { return "concurrency" }

func (concurrencySuite) Description() string {
	return "Contention: reads, writes and transactions on hot keys while nodes join and leave"
}

func (concurrencySuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{
		{Name: "concurrency.read", Suite: "concurrency", Primary: true},
		{Name: "concurrency.write", Suite: "concurrency", Primary: true},
		{Name: "concurrency.rmw", Suite: "concurrency", Primary: true},
		{Name: "concurrency.node_add", Suite: "concurrency", NoBaseline: true},
		{Name: "concurrency.node_remove", Suite: "concurrency", NoBaseline: true},
	}
}

func (concurrencySuite) Prepare(ctx context.Context, env Env) (Workload, error) {
	if err := env.KeyDist.validate(); err != nil {
		return nil, err
	}
	w := &ccWorkload{db: env.DB, dist: env.KeyDist, seed: env.Seed, keys: make([]string, env.Keys), churn: env.Replicas >= 3}
	for i := range w.keys {
		w.keys[i] = "cc/" + strconv.Itoa(i)
	}
	for i := range ccCounters {
		w.counters = append(w.counters, "cc/n/"+strconv.Itoa(i))
	}
	w.payload = make([]byte, env.DataSize)
	for _, k := range w.counters {
		if err := env.DB.Put(ctx, k, []byte("0")); err != nil {
			return nil, fmt.Errorf("setting up the counters: %w", err)
		}
	}
	return w, nil
}

type ccWorkload struct {
	db       DB
	dist     KeyDist
	seed     int64
	keys     []string
	counters []string
	payload  []byte
	churn    bool
	commits  atomic.Int64 // read-modify-writes committed: each added 2 to the counters
	unknown  atomic.Int64 // cut short with their outcome unknown (the run ended mid-commit)
}

func (w *ccWorkload) Client(id int) Client {
	seed := uint64(w.seed)<<16 + uint64(id)
	return &ccClient{w: w, rng: rand.New(rand.NewPCG(seed, 0xcc)),
		keys: newKeyPicker(w.dist, len(w.keys), seed), hot: newKeyPicker(w.dist, len(w.counters), seed+1)}
}

type ccClient struct {
	w         *ccWorkload
	rng       *rand.Rand
	keys, hot *keyPicker
}

// Do runs one op: half reads, three in ten writes, two in ten
// read-modify-write transactions over two counters drawn from the same
// distribution, so a skewed one makes them conflict.
func (c *ccClient) Do(ctx context.Context, rec *metrics.Recorder) {
	start := metrics.Now()
	switch r := c.rng.IntN(10); {
	case r < 5:
		_, err := c.w.db.Get(ctx, c.w.keys[c.keys.next()])
		if errors.Is(err, core.ErrNotFound) {
			err = nil // not written yet: still a read
		}
		observe(ctx, rec, opCCRead, start, err)
	case r < 8:
		observe(ctx, rec, opCCWrite, start, c.w.db.Put(ctx, c.w.keys[c.keys.next()], c.w.payload))
	default:
		a, b := c.hot.next(), c.hot.next()
		if a == b {
			b = (b + 1) % len(c.w.counters)
		}
		txn := core.Txn{Ops: []core.Op{core.Add(c.w.counters[a], 1), core.Add(c.w.counters[b], 1)}}
		for attempt := 1; ; attempt++ {
			res, err := c.w.db.Txn(ctx, txn)
			switch {
			case res.Committed:
				c.w.commits.Add(1)
			case err != nil && !errors.Is(err, core.ErrAborted):
				c.w.unknown.Add(1)
			}
			if err == nil || !errors.Is(err, core.ErrConflict) || attempt == ccMaxRetries {
				observe(ctx, rec, opCCRMW, start, err)
				return
			}
			// Each lost conflict counts; the transaction is retried after
			// a short random pause.
			rec.Fail(opCCRMW, metrics.ErrConflict)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(c.rng.IntN(1000*attempt)) * time.Microsecond):
			}
		}
	}
}

// Probe adds a node and removes it again while the load runs (the seed's
// "concurrent node management"), when the cluster has the replicas to
// spare.
func (w *ccWorkload) Probe(ctx context.Context, rec *metrics.Recorder) {
	if !w.churn {
		return
	}
	churn(ctx, w.db, rec, ccChurnEvery, opCCNodeAdd, opCCNodeRemove)
}

// Check resolves leftover locks and verifies that the counters add up to
// two per committed read-modify-write: no update lost under contention.
func (w *ccWorkload) Check(ctx context.Context) error {
	if _, err := w.db.ResolveLocks(ctx); err != nil {
		return fmt.Errorf("resolving the transactions' locks: %w", err)
	}
	total, _, err := w.db.SumInts(ctx, w.counters)
	if err != nil {
		return fmt.Errorf("reading the counters: %w", err)
	}
	// A transaction cut short may have committed after all: it may add 2.
	lo, hi := 2*w.commits.Load(), 2*(w.commits.Load()+w.unknown.Load())
	if total < lo || total > hi {
		return fmt.Errorf("lost or phantom updates: the counters add up to %d, want %d committed increments (up to %d with the %d cut short)", total, lo, hi, w.unknown.Load())
	}
	return nil
}

package suites

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
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
	w.hist = newHistory(w.keys, defaultHistoryLimits)
	w.ledger = newLedger("counters", "counter", w.counters, 0)
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
	hist     *history // reads and writes of a sample of the keys
	ledger   *ledger  // what the read-modify-writes did to each counter
}

func (w *ccWorkload) Client(id int) Client {
	seed := uint64(w.seed)<<16 + uint64(id)
	return &ccClient{w: w, id: id, rng: rand.New(rand.NewPCG(seed, 0xcc)),
		keys: newKeyPicker(w.dist, len(w.keys), seed), hot: newKeyPicker(w.dist, len(w.counters), seed+1)}
}

type ccClient struct {
	w         *ccWorkload
	id        int
	rng       *rand.Rand
	keys, hot *keyPicker
	vals      valueBuf // unique values for the sampled keys' writes
}

// Do runs one op: half reads, three in ten writes, two in ten
// read-modify-write transactions over two counters drawn from the same
// distribution, so a skewed one makes them conflict.
func (c *ccClient) Do(ctx context.Context, rec *metrics.Recorder) {
	start := metrics.Now()
	switch r := c.rng.IntN(10); {
	case r < 5:
		i := c.keys.next()
		k := c.w.hist.key(i)
		var op *histOp
		if k >= 0 {
			_, op = c.w.hist.begin(k, false, c.id)
		}
		v, err := c.w.db.Get(ctx, c.w.keys[i])
		c.w.hist.endRead(k, op, v, err)
		if errors.Is(err, core.ErrNotFound) {
			err = nil // not written yet: still a read
		}
		observe(ctx, rec, opCCRead, start, err)
	case r < 8:
		i := c.keys.next()
		value, op := c.w.payload, (*histOp)(nil)
		if k := c.w.hist.key(i); k >= 0 {
			var id uint64
			id, op = c.w.hist.begin(k, true, c.id)
			value = c.vals.with(c.w.payload, id)
		}
		err := c.w.db.Put(ctx, c.w.keys[i], value)
		endWrite(op, err)
		observe(ctx, rec, opCCWrite, start, err)
	default:
		a, b := c.hot.next(), c.hot.next()
		if a == b {
			b = (b + 1) % len(c.w.counters)
		}
		txn := core.Txn{Ops: []core.Op{core.Add(c.w.counters[a], 1), core.Add(c.w.counters[b], 1)}}
		for attempt := 1; ; attempt++ {
			res, err := c.w.db.Txn(ctx, txn)
			c.w.ledger.txn(res, err, leg{a, 1}, leg{b, 1})
			if err == nil || !errors.Is(err, core.ErrConflict) || attempt == ccMaxRetries {
				observe(ctx, rec, opCCRMW, start, err)
				return
			}
			// Each lost conflict counts; the transaction is retried after
			// a short random pause.
			rec.FailErr(opCCRMW, metrics.ErrConflict, err)
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

// Check proves the counters exactly — each holds one per committed
// read-modify-write that touched it, the ones of unknown outcome resolved
// from their decision records — and checks the sampled keys' history for
// linearizability.
func (w *ccWorkload) Check(ctx context.Context, dir string) []metrics.Check {
	return []metrics.Check{w.ledger.check(ctx, w.db, "concurrency"), w.hist.check(ctx, "concurrency", dir)}
}

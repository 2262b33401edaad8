package suites

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// faultyDB is a real cluster with one fault a checker exists to catch.
type faultyDB struct {
	DB
	// dropEvery makes every n-th put acknowledge without writing.
	dropEvery int64
	// staleEvery makes every n-th read of a key written twice or more
	// return the value of the write before the last acknowledged one: a
	// read no serial order allows once that last write was acknowledged.
	staleEvery int64
	// doubleEvery runs every n-th committed transaction a second time,
	// reporting it once.
	doubleEvery int64

	puts, reads, txns atomic.Int64
	mu                sync.Mutex
	last, prev        map[string][]byte // the last two acknowledged writes of each key
}

func (f *faultyDB) Put(ctx context.Context, key string, value []byte) error {
	if f.dropEvery > 0 && f.puts.Add(1)%f.dropEvery == 0 {
		return nil
	}
	return f.wrote(key, value, f.DB.Put(ctx, key, value))
}

func (f *faultyDB) PutReplicated(ctx context.Context, key string, value []byte) error {
	if f.dropEvery > 0 && f.puts.Add(1)%f.dropEvery == 0 {
		return nil
	}
	return f.wrote(key, value, f.DB.PutReplicated(ctx, key, value))
}

// wrote remembers an acknowledged write for the stale reads.
func (f *faultyDB) wrote(key string, value []byte, err error) error {
	if f.staleEvery > 0 && err == nil {
		f.mu.Lock()
		f.prev[key], f.last[key] = f.last[key], bytes.Clone(value)
		f.mu.Unlock()
	}
	return err
}

func (f *faultyDB) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := f.DB.Get(ctx, key)
	if f.staleEvery == 0 || err != nil {
		return v, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev := f.prev[key]; prev != nil && !bytes.Equal(prev, v) && f.reads.Add(1)%f.staleEvery == 0 {
		return bytes.Clone(prev), nil
	}
	return v, err
}

func (f *faultyDB) Txn(ctx context.Context, t core.Txn) (core.TxnResult, error) {
	res, err := f.DB.Txn(ctx, t)
	if err == nil && res.Committed && f.doubleEvery > 0 && f.txns.Add(1)%f.doubleEvery == 0 {
		f.DB.Txn(ctx, t)
	}
	return res, err
}

// runFaulty runs one suite on a real 3-node cluster wrapped by fault (nil
// for none) with a small keyspace, so that keys are read and written
// often, and returns the report.
func runFaulty(t *testing.T, suite string, fault *faultyDB) *metrics.Report {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Nodes = 3
	cfg.Clients = 4
	cfg.Duration = 2 * time.Second
	cfg.Suites = []string{suite}
	// A small keyspace, so that each key is read and written often
	// enough for a fault to show even under the race detector's slowdown.
	cfg.MemoryBudget = 16 << 20
	cfg.DataSize = 16 << 10
	cfg.LogOutput = io.Discard
	cfg.CheckDir = t.TempDir()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.open = func(ctx context.Context, ccfg core.Config) (DB, error) {
		db, err := openEmbedded(ctx, ccfg)
		if err != nil || fault == nil {
			return db, err
		}
		fault.DB, fault.last, fault.prev = db, map[string][]byte{}, map[string][]byte{}
		return fault, nil
	}
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// verdicts maps each check's name to its verdict.
func verdicts(cs []metrics.Check) map[string]metrics.CheckVerdict {
	out := map[string]metrics.CheckVerdict{}
	for _, c := range cs {
		out[c.Name] = c.Verdict
	}
	return out
}

// Every checker fails when the fault it exists to catch is injected, end
// to end through its suite and the runner, and passes without it.
func TestCheckersCatchTheirFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real clusters")
	}
	for _, tc := range []struct {
		name, suite string
		fault       *faultyDB
		want        map[string]metrics.CheckVerdict
	}{
		{"consensus without a fault", "consensus", nil, map[string]metrics.CheckVerdict{"linearizable": metrics.CheckOK}},
		// The suite reads back one put in ten, and only a read right after a
		// dropped put can see it lost: dropping one in 5 left a slow run's
		// dozen sampled reads a few percent chance of missing every drop.
		{"consensus dropping one put in 2", "consensus", &faultyDB{dropEvery: 2}, map[string]metrics.CheckVerdict{"linearizable": metrics.CheckViolated}},
		{"consensus serving one stale read in 2", "consensus", &faultyDB{staleEvery: 2}, map[string]metrics.CheckVerdict{"linearizable": metrics.CheckViolated}},
		{"txn without a fault", "txn", nil, map[string]metrics.CheckVerdict{"ledger": metrics.CheckOK}},
		{"txn applying one transfer in 3 twice", "txn", &faultyDB{doubleEvery: 3}, map[string]metrics.CheckVerdict{"ledger": metrics.CheckViolated}},
		{"concurrency without a fault", "concurrency", nil, map[string]metrics.CheckVerdict{"counters": metrics.CheckOK, "linearizable": metrics.CheckOK}},
		{"concurrency with stale reads and doubled transactions", "concurrency", &faultyDB{staleEvery: 2, doubleEvery: 3},
			map[string]metrics.CheckVerdict{"counters": metrics.CheckViolated, "linearizable": metrics.CheckViolated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			report := runFaulty(t, tc.suite, tc.fault)
			for _, c := range report.Checks {
				t.Log(c)
			}
			got := verdicts(report.Checks)
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: %s, want %s; checks: %v", name, got[name], want, report.Checks)
				}
			}
			if failed := tc.fault != nil; report.ChecksFailed() != failed || strings.Contains(report.Outcome(": "), "a correctness check failed") != failed {
				t.Errorf("checks failed %v, outcome %q; want failed %v", report.ChecksFailed(), report.Outcome(": "), failed)
			}
			for _, c := range report.Checks {
				if c.Ops == 0 || c.Keys == 0 {
					t.Errorf("%s covered %d ops on %d keys: it checked nothing", c.Name, c.Ops, c.Keys)
				}
				if c.Name == "linearizable" && c.Failed() {
					html := regexp.MustCompile(`see (\S+\.html)`).FindStringSubmatch(c.Detail)
					if html == nil {
						t.Fatalf("the violation names no visualisation: %s", c.Detail)
					}
					if b, err := os.ReadFile(html[1]); err != nil || !bytes.Contains(b, []byte("<html")) {
						t.Errorf("visualisation %s: %v, %d bytes", html[1], err, len(b))
					}
				}
			}
		})
	}
}

// A ledger whose total is conserved still fails when one transfer is
// applied twice and another lost on both legs.
func TestLedgerCatchesWhatTheTotalHides(t *testing.T) {
	ctx := context.Background()
	db := &memDB{vals: map[string]string{"a": "100", "b": "100", "c": "100"}}
	l := newLedger("ledger", "account", []string{"a", "b", "c"}, 100)
	// Acknowledged: a→b 10, applied twice by the database; b→c 5, lost.
	l.txn(core.TxnResult{ID: 1, Committed: true}, nil, leg{0, -10}, leg{1, 10})
	l.txn(core.TxnResult{ID: 2, Committed: true}, nil, leg{1, -5}, leg{2, 5})
	db.vals = map[string]string{"a": "80", "b": "120", "c": "100"}
	c := l.check(ctx, db, "txn")
	if c.Verdict != metrics.CheckViolated || !strings.Contains(c.Detail, "a is 80, want 90") {
		t.Errorf("%v", c)
	}
}

// Outcomes the load could not learn are resolved from the decision
// records; one that stays unknown makes the verdict unknown, never ok.
func TestLedgerResolvesUnknownOutcomes(t *testing.T) {
	defer func(d time.Duration) { settleFor = d }(settleFor)
	settleFor = 10 * time.Millisecond
	ctx := context.Background()
	for _, tc := range []struct {
		outcome core.Outcome
		vals    map[string]string
		want    metrics.CheckVerdict
	}{
		{core.OutcomeCommitted, map[string]string{"a": "90", "b": "110"}, metrics.CheckOK},
		{core.OutcomeCommitted, map[string]string{"a": "100", "b": "100"}, metrics.CheckViolated},
		{core.OutcomeAborted, map[string]string{"a": "100", "b": "100"}, metrics.CheckOK},
		{core.OutcomeAborted, map[string]string{"a": "90", "b": "110"}, metrics.CheckViolated},
		{core.OutcomeUnknown, map[string]string{"a": "90", "b": "110"}, metrics.CheckUnknown},
	} {
		db := &memDB{vals: tc.vals, outcome: tc.outcome}
		l := newLedger("ledger", "account", []string{"a", "b"}, 100)
		l.txn(core.TxnResult{ID: 7, Coord: 0}, context.DeadlineExceeded, leg{0, -10}, leg{1, 10})
		l.txn(core.TxnResult{ID: 8}, core.ErrAborted, leg{0, -50}, leg{1, 50}) // a definite abort
		if c := l.check(ctx, db, "txn"); c.Verdict != tc.want {
			t.Errorf("decision %v, balances %v: %v, want %s", tc.outcome, tc.vals, c, tc.want)
		}
	}
}

// memDB is a database of a few integer keys, for the ledger alone.
type memDB struct {
	DB
	vals    map[string]string
	outcome core.Outcome
}

func (m *memDB) ResolveLocks(context.Context) (int, error) { return 0, nil }
func (m *memDB) TxnOutcome(context.Context, core.TxnResult) (core.Outcome, error) {
	return m.outcome, nil
}
func (m *memDB) Get(_ context.Context, k string) ([]byte, error) {
	v, ok := m.vals[k]
	if !ok {
		return nil, core.ErrNotFound
	}
	return []byte(v), nil
}

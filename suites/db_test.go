package suites

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// countingDB is a DB that counts the calls made through it.
type countingDB struct {
	DB
	puts atomic.Int64
}

func (d *countingDB) Put(ctx context.Context, key string, value []byte) error {
	d.puts.Add(1)
	return d.DB.Put(ctx, key, value)
}

// envSuite is a fakeSuite whose clients write through the Env's DB.
type envSuite struct {
	fakeSuite
	db DB
}

func (s *envSuite) Prepare(_ context.Context, env Env) (Workload, error) {
	s.db = env.DB
	return s, nil
}

func (s *envSuite) Client(int) Client { return s }

func (s *envSuite) Do(ctx context.Context, rec *metrics.Recorder) {
	start := time.Now()
	if err := s.db.Put(ctx, "k", []byte("v")); err == nil {
		rec.Record(0, time.Since(start))
	}
}

// The runner opens its database through its open hook and hands that
// database, and no other, to the suites.
func TestRunnerDrivesTheDatabaseItOpened(t *testing.T) {
	s := &envSuite{fakeSuite: fakeSuite{name: "fake"}}
	cfg := fakeConfig()
	cfg.Duration = 500 * time.Millisecond
	r := newRunner(cfg, []Suite{s})
	var opened *countingDB
	r.open = func(ctx context.Context, ccfg core.Config) (DB, error) {
		if ccfg.Nodes != cfg.Nodes {
			t.Errorf("open asked for %d nodes, the run has %d", ccfg.Nodes, cfg.Nodes)
		}
		db, err := openEmbedded(ctx, ccfg)
		if err != nil {
			return nil, err
		}
		opened = &countingDB{DB: db}
		return opened, nil
	}
	report, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The suites get it behind the runner's fault guard, which passes
	// everything but leader kills straight through.
	if g, ok := s.db.(guardedDB); opened == nil || !ok || g.DB != DB(opened) {
		t.Fatalf("the suite got %v, not the database open returned behind the fault guard", s.db)
	}
	if n, ops := opened.puts.Load(), report.Suites["fake"].Ops["fake.op"].Count; n == 0 || uint64(n) < ops {
		t.Errorf("%d puts through the opened database for %d ops recorded", n, ops)
	}
}

// A database that will not open fails the run, saying why.
func TestRunnerFailsWhenTheDatabaseWillNotOpen(t *testing.T) {
	r := newRunner(fakeConfig(), []Suite{&fakeSuite{name: "fake", pattern: []time.Duration{time.Millisecond}}})
	r.open = func(context.Context, core.Config) (DB, error) { return nil, errors.New("no such host") }
	report, err := r.Run(context.Background())
	if !errors.Is(err, ErrRunFailed) || !strings.Contains(err.Error(), "the cluster did not start: no such host") {
		t.Errorf("err = %v, want a failed run saying the cluster did not start", err)
	}
	if report == nil || !strings.Contains(report.Error, "no such host") {
		t.Errorf("report %+v, want the reason in its error", report)
	}
}

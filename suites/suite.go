// Package suites holds the PhantomDB performance suites and the Runner that
// drives them against the embedded core: clients, pacing, ticks and the
// snapshots front ends watch.
package suites

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Suite is a named set of operations phantom measures.
type Suite interface {
	// Name is the suite's short name, as typed in --suites.
	Name() string
	// Description is one line for the setup screen and --help.
	Description() string
	// Ops lists the ops the suite records, in the order a Client's
	// recorder indexes them.
	Ops() []metrics.OpSpec
	// Prepare readies the suite on a running cluster (seeding data, say)
	// and returns the workload its clients run.
	Prepare(ctx context.Context, env Env) (Workload, error)
}

// Env is what a suite gets to work with.
type Env struct {
	DB       DB            // the database the suite drives
	Nodes    int           // nodes the cluster started with
	Replicas int           // replicas of every shard
	DataSize int           // bytes per written value
	Keys     int           // keyspace size that fits the memory budget
	KeyDist  KeyDist       // how workloads that pick hot keys draw them
	Clients  int           // load clients the suite starts with
	Duration time.Duration // how long the suite runs
	Seed     int64         // base seed for random generators, so runs repeat
	// Transactions and Queries bound the txn and query suites: a suite
	// calls End once it has run that many (0 means no bound).
	Transactions, Queries int
	// End ends the suite's load early, as its duration would; any
	// goroutine may call it.
	End func()
	// Open starts a fresh cluster like the run's with nodes nodes and
	// shards shards, for a sweep of cluster sizes, sized (its keyspace,
	// returned as keys, and its logs between snapshots) to fit budget
	// bytes; the caller closes it. Nil when the run cannot start clusters
	// of its own.
	Open func(ctx context.Context, nodes, shards int, budget int64) (db DB, keys int, err error)
	// Shards is how many shards the run's cluster has.
	Shards int
	// Budget is the run's memory budget in bytes: what the run's cluster
	// and any cluster a suite opens must fit in together (0: unknown).
	Budget int64
	// FreshElections counts the elections of a cluster Open started, read
	// before it closes, against the run: those until it had settled, and
	// a few election timeouts after, are caused by its start, later ones
	// spontaneous. Any goroutine may call it; nil counts nothing.
	FreshElections func(evs []core.Election, settled time.Time)
	// Note records an event, such as why a sweep's step was skipped; any
	// goroutine may call it. Nil means no event.
	Note func(msg string)
	// NodeCPUs is each node process's CPU quota, in CPUs, when the nodes
	// are processes under quotas (--node-cpus): then each node, fresh
	// clusters' too, brings resources of its own. 0 otherwise.
	NodeCPUs float64
	// mark reads the machine's and the node processes' CPU counters, for
	// a sweep step's figures; nil reads none.
	mark func() cpuMark
}

// Workload makes the clients of one suite run.
type Workload interface {
	// Client returns the load client with the given id (0-based). Each
	// client is used by one goroutine only.
	Client(id int) Client
}

// Client is one load worker's view of a workload.
type Client interface {
	// Do runs one iteration of the workload, recording every op it ran
	// into rec. When ctx ends mid-operation, Do returns without recording
	// the cut-short op: it did not fail, the run ended.
	Do(ctx context.Context, rec *metrics.Recorder)
}

// A workload may also implement any of Prober, Checker, Resizer and
// Scaler; the runner asks for each by type assertion.

// Prober is a workload with one more worker besides its clients: one that
// measures something clients cannot, such as how long a leader election
// takes, by acting on the cluster now and then. Probe runs until ctx ends.
type Prober interface {
	Probe(ctx context.Context, rec *metrics.Recorder)
}

// Checker is a workload with correctness checks to run once its load has
// stopped and its clients have returned: a ledger that must add up, a
// history that must be linearizable. Check returns one verdict per check,
// never nil; a violated one fails the run (exit code 4). Evidence a check
// writes, such as a history's visualisation, goes in dir (the working
// directory when empty), and its detail names the file.
type Checker interface {
	Check(ctx context.Context, dir string) []metrics.Check
}

// Resizer is a workload whose written values can change size live, from
// the runner's goroutine while its clients run.
type Resizer interface {
	SetDataSize(n int)
}

// Scaler is a workload that measures scalability: its points go in the
// report, with their efficiency and a USL fit.
type Scaler interface {
	Scalability() []metrics.ScalePoint
}

// All returns every suite phantom knows, in the order they run.
func All() []Suite {
	return []Suite{clusterSuite{}, consensusSuite{}, txnSuite{}, querySuite{}, concurrencySuite{}, scalabilitySuite{}}
}

// Lookup finds a suite by name.
func Lookup(name string) (Suite, bool) {
	for _, s := range All() {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// Names lists every suite's name.
func Names() []string {
	var out []string
	for _, s := range All() {
		out = append(out, s.Name())
	}
	return out
}

// Resolve turns names into suites, in the order given, rejecting unknown
// names and duplicates.
func Resolve(names []string) ([]Suite, error) {
	if len(names) == 0 {
		return nil, errors.New("no suite chosen; pick one or more of: " + strings.Join(Names(), ", "))
	}
	seen := map[string]bool{}
	var out []Suite
	for _, n := range names {
		s, ok := Lookup(n)
		if !ok {
			known := Names()
			sort.Strings(known)
			return nil, fmt.Errorf("unknown suite %q; known suites: %s", n, strings.Join(known, ", "))
		}
		if seen[n] {
			return nil, fmt.Errorf("suite %q is listed twice", n)
		}
		seen[n] = true
		out = append(out, s)
	}
	return out, nil
}

// Errors the runner and suites name themselves, for the report's error
// samples.
var (
	errIterationTimedOut = errors.New("the iteration ran past --op-timeout and was cancelled")
	errNoNodes           = errors.New("the cluster's status lists no node")
)

// errorKind classifies a failed op for the error counts.
func errorKind(err error) metrics.ErrorKind {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return metrics.ErrTimeout
	case errors.Is(err, core.ErrNoLeader), errors.Is(err, core.ErrClosed):
		return metrics.ErrUnavailable
	case errors.Is(err, core.ErrConflict):
		return metrics.ErrConflict
	case errors.Is(err, core.ErrConditionFailed):
		return metrics.ErrCondition
	}
	return metrics.ErrOther
}

// countBound ends a suite once it has started limit operations (none when
// limit is 0): the profile's transactions and queries counts.
type countBound struct {
	limit   int64
	started atomic.Int64
	end     func()
}

// take claims one operation. Past the limit it ends the suite, waits for
// the end to reach ctx and reports false.
func (b *countBound) take(ctx context.Context) bool {
	if b.limit <= 0 || b.started.Add(1) <= b.limit {
		return true
	}
	if b.end != nil {
		b.end()
	}
	<-ctx.Done()
	return false
}

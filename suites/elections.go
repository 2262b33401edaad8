package suites

import (
	"fmt"
	"sync"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// An election the run caused is one that follows something the runner or
// a suite did to the cluster — a leader kill, a crash, a restart, a
// partition or its heal, a delay, a node joining or leaving, the cluster's
// start — on the shard it acted on, while it went on or within
// causeWindow election timeouts after. Every other election is
// spontaneous: the cluster lost a leader on its own, a heartbeat late on a
// busy machine, say, which is what a user hunting a bottleneck wants to
// see apart.
const causeWindow = 5

// minCauseWindow is the least time after a cause that an election is put
// down to it: a few election timeouts of an embedded cluster's 50 ms are
// shorter than a busy machine's scheduling hiccup.
const minCauseWindow = 500 * time.Millisecond

// causeBook records what the run did to the cluster, for telling the
// elections it caused from spontaneous ones. Any goroutine may call it:
// the runner's, background changes and the suites' probes.
type causeBook struct {
	mu     sync.Mutex
	causes []cause
}

type cause struct {
	what   string // "kill-leader", "crash", "node_add", …
	shards []int  // the shards it acts on; nil for every shard
	from   time.Time
	to     time.Time // zero while it goes on
}

// begin records that what starts acting on shards (nil: all) now, and
// returns what records its end. Call it before acting: an election that
// comes before it is not its doing.
func (b *causeBook) begin(what string, shards []int) (end func()) {
	if b == nil {
		return func() {}
	}
	b.mu.Lock()
	b.causes = append(b.causes, cause{what: what, shards: shards, from: time.Now()})
	i := len(b.causes) - 1
	c := &b.causes[i]
	from := c.from
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		// The slice may have moved or been pruned: find the cause again.
		for j := range b.causes {
			if c := &b.causes[j]; c.from.Equal(from) && c.what == what && c.to.IsZero() {
				c.to = time.Now()
				return
			}
		}
	}
}

// mark records a change that acts at once (a crash, a heal).
func (b *causeBook) mark(what string, shards []int) { b.begin(what, shards)() }

// of returns what caused election e, or "" when nothing the run did
// explains it: spontaneous. window is how long after a cause's end an
// election is still put down to it.
func (b *causeBook) of(e core.Election, window time.Duration) string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.causes) - 1; i >= 0; i-- {
		c := b.causes[i]
		if e.At.Before(c.from) || (!c.to.IsZero() && e.At.After(c.to.Add(window))) {
			continue
		}
		if c.shards == nil {
			return c.what
		}
		for _, s := range c.shards {
			if s == e.Shard {
				return c.what
			}
		}
	}
	return ""
}

// prune forgets causes that ended before cutoff: no election read from
// now on can be theirs.
func (b *causeBook) prune(cutoff time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.causes[:0]
	for _, c := range b.causes {
		if c.to.IsZero() || c.to.After(cutoff) {
			kept = append(kept, c)
		}
	}
	b.causes = kept
}

// shardsOn returns the shards with a replica on node, as st has them: the
// ones a fault of the node may cost a leader.
func shardsOn(st core.Status, node string) []int {
	out := []int{}
	for _, sh := range st.Shards {
		for _, r := range sh.Replicas {
			if r.Node == node {
				out = append(out, sh.ID)
				break
			}
		}
	}
	return out
}

// electionCount tallies the run's elections, caused and spontaneous, for
// the whole run and for each suite by the time of the election. Only the
// runner's goroutine touches it.
type electionCount struct {
	run    metrics.Elections
	suites []suiteElections // in the order the suites ran
}

type suiteElections struct {
	name     string
	from, to time.Time // to zero while the suite runs
	counts   metrics.Elections
}

// add counts e, caused by cause ("" for spontaneous).
func (c *electionCount) add(e core.Election, cause string) {
	c.run.Add(cause)
	for i := len(c.suites) - 1; i >= 0; i-- {
		s := &c.suites[i]
		if !e.At.Before(s.from) && (s.to.IsZero() || !e.At.After(s.to)) {
			s.counts.Add(cause)
			return
		}
	}
}

// view is the counts for a snapshot, each suite's over its load time so
// far and the run's over since, the cluster's start.
func (c *electionCount) view(now, since time.Time) (metrics.Elections, []metrics.SuiteElections) {
	run := c.run.Clone()
	run.Over = now.Sub(since)
	out := make([]metrics.SuiteElections, len(c.suites))
	for i, s := range c.suites {
		e := s.counts.Clone()
		end := s.to
		if end.IsZero() {
			end = now
		}
		e.Over = end.Sub(s.from)
		out[i] = metrics.SuiteElections{Suite: s.name, Elections: e}
	}
	return run, out
}

// countElections classifies the elections read this tick.
func (x *run) countElections(evs []core.Election) {
	if len(evs) == 0 {
		return
	}
	window := minCauseWindow
	if t := x.epochs.timeouts.Election; t > 0 {
		window = max(window, causeWindow*t)
	}
	for _, e := range evs {
		if debugElections {
			println("election", e.Shard, e.From, "->", e.To, e.Term, e.At.Sub(x.started).String(), "cause", x.causes.of(e, window), e.Took.String())
		}
		cause := x.causes.of(e, window)
		x.elections.add(e, cause)
		if cause == "" {
			// Named apart, with its time, so that a user can set it
			// beside the bottleneck line and the resources of the moment.
			x.event(metrics.EventElection, spontaneousText(e, window))
		}
	}
	x.causes.prune(time.Now().Add(-window - time.Minute))
}

var debugElections = false

// spontaneousText tells of election e, which nothing the run did explains.
func spontaneousText(e core.Election, window time.Duration) string {
	from := e.From
	if from == "" {
		from = "none"
	}
	return fmt.Sprintf("shard %d: spontaneous election, leader %s → %s (term %d): nothing the run did to shard %d in the %v before it",
		e.Shard, from, e.To, e.Term, e.Shard, window.Round(time.Millisecond))
}

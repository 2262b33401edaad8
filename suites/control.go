package suites

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// ErrNotRunning is returned by Control when no suite is running.
var ErrNotRunning = errors.New("no suite is running")

type controlReq struct {
	action knob.Action
	done   chan error
}

// Control applies a live change to the running suite. It returns once the
// change has taken effect (a node being added or drained goes on in the
// background and reports in the events), or with why it could not.
func (r *Runner) Control(ctx context.Context, a knob.Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	open := r.accepting.Load()
	if open == nil {
		return ErrNotRunning
	}
	req := controlReq{action: a, done: make(chan error, 1)}
	select {
	case r.controls <- req:
	case <-*open:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// apply carries out a on the running suite, from the runner's goroutine,
// and opens a new epoch for it.
func (x *run) apply(sr *suiteRun, a knob.Action) error { return x.applyBy(sr, a, "") }

// applyBy is apply with the epoch's change prefixed by who acted:
// "nemesis ".
func (x *run) applyBy(sr *suiteRun, a knob.Action, by string) error {
	if sr.lctx.Err() != nil {
		return ErrNotRunning
	}
	do, ok := actions[a.Verb]
	if !ok {
		return fmt.Errorf("unknown action %q", a.Verb)
	}
	fault, err := do(x, sr, &a)
	if err != nil {
		return err
	}
	x.newEpoch(by + a.String())
	if fault != "" {
		x.event(metrics.EventFault, fault)
	}
	return nil
}

// actions carries out each verb, on the runner's goroutine. A method
// returns what a fault did, for an event after the epoch's, and writes in
// a.Node the node it picked, so the epoch's change names it. A slow change
// goes on in the background and reports in the events.
var actions = map[string]func(x *run, sr *suiteRun, a *knob.Action) (fault string, err error){
	knob.VerbClients:    (*run).applyClients,
	knob.VerbRate:       (*run).applyRate,
	knob.VerbDataSize:   (*run).applyDataSize,
	knob.VerbNetDelay:   (*run).applyNetDelay,
	knob.VerbDuration:   (*run).applyDuration,
	knob.VerbKillLeader: (*run).applyKillLeader,
	knob.VerbCrash:      (*run).applyCrash,
	knob.VerbRestart:    (*run).applyRestart,
	knob.VerbPartition:  (*run).applyPartition,
	knob.VerbHeal:       (*run).applyHeal,
	knob.VerbPause:      (*run).applyPause,
	knob.VerbResume:     (*run).applyResume,
	knob.VerbNodes:      (*run).applyNodes,
}

func (x *run) applyClients(sr *suiteRun, a *knob.Action) (string, error) {
	x.load.clients = a.Count
	sr.setClients(a.Count)
	return "", nil
}

func (x *run) applyRate(sr *suiteRun, a *knob.Action) (string, error) {
	p := sr.pace()
	if p == nil {
		return "", errors.New("rate= needs an open-loop run: start it with --rate")
	}
	x.load.rate = a.Rate
	p.setRate(a.Rate)
	return "", nil
}

// applyDataSize resizes the values the suite writes from now on, if the
// run's keyspace still fits the memory budget with them.
func (x *run) applyDataSize(sr *suiteRun, a *knob.Action) (string, error) {
	rs, ok := sr.w.(Resizer)
	if !ok {
		return "", fmt.Errorf("suite %s writes no values to resize", x.suite)
	}
	cfg := x.cfg
	cfg.DataSize = a.Size
	sz, err := cfg.size(x.budget)
	if err != nil {
		return "", err
	}
	if sz.keys < x.keys {
		return "", fmt.Errorf("data size %s would not fit the memory budget with the run's %d keys; the most that fits is about %s",
			knob.Size(a.Size), x.keys, metrics.FormatBytes(float64(a.Size)*float64(sz.keys)/float64(x.keys)))
	}
	x.load.dataSize = a.Size
	if es, ok := x.db.(EntrySizer); ok {
		// Before the values grow: raft's timeouts first.
		_ = x.blocking(sr, func() error { es.SetEntryBytes(a.Size); return nil })
	}
	rs.SetDataSize(a.Size)
	return "", nil
}

func (x *run) applyNetDelay(sr *suiteRun, a *knob.Action) (string, error) {
	x.causes.mark("delay", nil) // raft's timeouts follow the delay
	db := x.db
	if err := x.blocking(sr, func() error { return db.SetAllLinks(core.Link{Delay: a.Delay}) }); err != nil {
		return "", err
	}
	x.netDelay = a.Delay
	return fmt.Sprintf("network: %v one-way delay on every link", a.Delay), nil
}

func (x *run) applyDuration(sr *suiteRun, a *knob.Action) (string, error) {
	sr.setDuration(a.Delay)
	return "", nil
}

// applyKillLeader kills the next shard's leader, round robin, in the
// background: the new leader's election takes a while. It is refused
// while another fault of that shard still runs (the election probe's kill
// waiting for a successor, say) or when the kill would leave the shard
// below its quorum: two kills of one shard at once can leave it none.
func (x *run) applyKillLeader(*suiteRun, *knob.Action) (string, error) {
	db := x.db
	shard := x.killNext % db.Shards()
	x.killNext++
	if holder, ok := x.faults.try(shard, "kill-leader"); !ok {
		return "", fmt.Errorf("%w: shard %d: %s is still waiting for its successor; try again once the shard has a leader", errFaultRefused, shard, holder)
	}
	if why := killCostsQuorum(db.Status(), shard); why != "" {
		x.faults.release(shard)
		return "", fmt.Errorf("%w: %s; restart or heal first", errFaultRefused, why)
	}
	x.background(func(ctx context.Context) {
		defer x.faults.release(shard)
		defer x.causes.begin("kill-leader", []int{shard})()
		if node, err := db.KillLeader(ctx, shard); err != nil {
			x.events.later(metrics.EventError, fmt.Sprintf("kill-leader on shard %d refused or failed: %v", shard, err))
		} else {
			x.events.later(metrics.EventFault, fmt.Sprintf("shard %d leader on %s killed; a new one took over", shard, node))
		}
	})
	return "", nil
}

func (x *run) applyCrash(sr *suiteRun, a *knob.Action) (string, error) {
	node, why, err := crashTarget(x.db.Status(), a.Node)
	if err != nil {
		return "", err
	}
	a.Node = node
	x.causes.mark("crash", shardsOn(x.db.Status(), node))
	db := x.db
	if err := x.blocking(sr, func() error { return db.CrashNode(node) }); err != nil {
		return "", err
	}
	return "crashed " + node + why, nil
}

// applyRestart restarts the named node, or every crashed one, in the
// background: Control returns once it has begun.
func (x *run) applyRestart(_ *suiteRun, a *knob.Action) (string, error) {
	ids, err := restartTargets(x.db.Status(), a.Node)
	if err != nil {
		return "", err
	}
	ids, busy := x.restarting.take(ids)
	if len(ids) == 0 {
		return "", fmt.Errorf("%s already restarting", strings.Join(busy, ", "))
	}
	db := x.db
	x.background(func(ctx context.Context) {
		for _, id := range ids {
			end := x.causes.begin("restart", shardsOn(db.Status(), id))
			err := db.RestartNode(ctx, id)
			end()
			x.restarting.done(id)
			if err != nil {
				x.events.later(metrics.EventError, fmt.Sprintf("restarting %s failed: %v", id, err))
			} else {
				x.events.later(metrics.EventFault, id+" restarted; it catches up from its shards' leaders")
			}
		}
	})
	return "restarting " + strings.Join(ids, ", "), nil
}

func (x *run) applyPartition(sr *suiteRun, a *knob.Action) (string, error) {
	node, why, err := partitionTarget(x.db.Status(), a.Node)
	if err != nil {
		return "", err
	}
	a.Node = node
	x.causes.mark("partition", shardsOn(x.db.Status(), node))
	db := x.db
	if err := x.blocking(sr, func() error { return db.Partition(node) }); err != nil {
		return "", err
	}
	return "partitioned " + node + " off the network" + why, nil
}

func (x *run) applyHeal(sr *suiteRun, _ *knob.Action) (string, error) {
	x.causes.mark("heal", nil) // a healed node's higher term may unseat a leader anywhere
	db := x.db
	_ = x.blocking(sr, func() error { db.Heal(); return nil })
	return "healed every partition", nil
}

func (x *run) applyPause(sr *suiteRun, _ *knob.Action) (string, error) {
	if !sr.pause() {
		return "", errors.New("already paused")
	}
	return "", nil
}

func (x *run) applyResume(sr *suiteRun, _ *knob.Action) (string, error) {
	if !sr.resume() {
		return "", errors.New("not paused")
	}
	return "", nil
}

// applyNodes adds or removes nodes in the background; events report each
// one joining or leaving.
func (x *run) applyNodes(_ *suiteRun, a *knob.Action) (string, error) {
	db, n := x.db, a.Count
	x.targetNodes = n
	x.resizing.Add(1)
	x.background(func(ctx context.Context) { defer x.resizing.Add(-1); x.resize(ctx, db, n) })
	return "", nil
}

// resize adds or removes nodes until db has n; the newest nodes leave
// first. It runs in the background.
func (x *run) resize(ctx context.Context, db DB, n int) {
	for {
		nodes := db.Status().Nodes
		switch {
		case len(nodes) < n:
			end := x.causes.begin("node_add", nil)
			id, err := db.AddNode(ctx)
			end()
			if err != nil {
				x.events.later(metrics.EventError, "adding a node failed: "+err.Error())
				return
			}
			x.events.later(metrics.EventMembership, "node "+id+" joined")
		case len(nodes) > n:
			id := nodes[len(nodes)-1].ID
			end := x.causes.begin("node_remove", nil)
			err := db.RemoveNode(ctx, id)
			end()
			if err != nil {
				x.events.later(metrics.EventError, "removing "+id+" failed: "+err.Error())
				return
			}
			x.events.later(metrics.EventMembership, "node "+id+" left")
		default:
			return
		}
	}
}

// background is the slow live changes (a node joining, a leader being
// killed) running off the runner's goroutine. The runner's goroutine
// starts them and, before it shuts the cluster down, cancels and waits
// for them.
type background struct {
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc // nil until start
}

func (b *background) start(parent context.Context) { b.ctx, b.cancel = context.WithCancel(parent) }

// stopAndWait makes the changes give up and waits for them.
func (b *background) stopAndWait() {
	if b.cancel != nil {
		b.cancel()
		b.wg.Wait()
	}
}

// background runs f off the runner's goroutine; a panic in it fails the
// run as a client's would.
func (x *run) background(f func(ctx context.Context)) {
	x.bg.wg.Add(1)
	go func() {
		defer x.bg.wg.Done()
		defer x.recoverClient(func() {})
		f(x.bg.ctx)
	}()
}

// newEpoch closes the current epoch at a fresh tick and opens one for change.
func (x *run) newEpoch(change string) {
	x.tick(time.Now(), metrics.PhaseRunning)
	x.epochs.close(x.elapsed, x.ops)
	x.collector.NewEpoch()
	n := x.epochs.open(x.elapsed, change, x.raftTimeouts())
	x.event(metrics.EventEpoch, fmt.Sprintf("epoch %d: %s", n, change))
}

// script is the scripted changes not yet run, in time order. Only the
// runner's goroutine touches it.
type script []knob.TimedAction

func newScript(at []knob.TimedAction) script {
	s := script(slices.Clone(at))
	slices.SortStableFunc(s, func(a, b knob.TimedAction) int { return cmp.Compare(a.At, b.At) })
	return s
}

// wait is how long until the next scripted action is due, for a load that
// started at loadStart.
func (s script) wait(loadStart time.Time) time.Duration {
	if len(s) == 0 {
		return time.Hour
	}
	return max(time.Until(loadStart.Add(s[0].At)), 0)
}

// next takes the next scripted action if it is due.
func (s *script) next(loadStart time.Time) (knob.TimedAction, bool) {
	if len(*s) == 0 || time.Since(loadStart) < (*s)[0].At {
		return knob.TimedAction{}, false
	}
	a := (*s)[0]
	*s = (*s)[1:]
	return a, true
}

// runScripted applies every scripted action that is due.
func (x *run) runScripted(sr *suiteRun) {
	for a, ok := x.script.next(x.loadStart); ok; a, ok = x.script.next(x.loadStart) {
		if err := x.apply(sr, a.Action); err != nil {
			x.event(metrics.EventError, fmt.Sprintf("--at %v:%s: %v", a.At, a.Action, err))
		}
	}
}

// nodeSet is a set of nodes an action in the background works on.
type nodeSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

// take adds the ids not in the set yet and returns them, and the others.
func (f *nodeSet) take(ids []string) (taken, busy []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	for _, id := range ids {
		if f.ids[id] {
			busy = append(busy, id)
			continue
		}
		f.ids[id] = true
		taken = append(taken, id)
	}
	return taken, busy
}

// done takes id out of the set.
func (f *nodeSet) done(id string) {
	f.mu.Lock()
	delete(f.ids, id)
	f.mu.Unlock()
}

package suites

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// ErrNotRunning is returned by Control when no suite is running.
var ErrNotRunning = errors.New("no suite is running")

type controlReq struct {
	action Action
	done   chan error
}

// Control applies a live change to the running suite. It returns once the
// change has taken effect (a node being added or drained goes on in the
// background and reports in the events), or with why it could not.
func (r *Runner) Control(ctx context.Context, a Action) error {
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
func (x *run) apply(sr *suiteRun, a Action) error {
	if sr.lctx.Err() != nil {
		return ErrNotRunning
	}
	c := x.cluster
	var err error
	var fault string // what a fault did, for an event after the epoch's
	switch a.Verb {
	case VerbClients:
		x.clients = a.Count
		sr.setClients(a.Count)
	case VerbRate:
		if sr.pace == nil {
			return errors.New("rate= needs an open-loop run: start it with --rate")
		}
		x.rate = a.Rate
		sr.pace.setRate(a.Rate)
	case VerbDataSize:
		rs, ok := sr.w.(Resizer)
		if !ok {
			return fmt.Errorf("suite %s writes no values to resize", x.suite)
		}
		cfg := x.cfg
		cfg.DataSize = a.Size
		sz, serr := cfg.size(x.budget)
		if serr != nil {
			return serr
		}
		if sz.keys < x.keys {
			return fmt.Errorf("data size %s would not fit the memory budget with the run's %d keys; the most that fits is about %s",
				metrics.FormatBytes(float64(a.Size)), x.keys, metrics.FormatBytes(float64(x.cfg.DataSize)*float64(sz.keys)/float64(x.keys)))
		}
		x.dataSize = a.Size
		rs.SetDataSize(a.Size)
	case VerbNetDelay:
		if err = c.SetAllLinks(core.Link{Delay: a.Delay}); err == nil {
			fault = fmt.Sprintf("network: %v one-way delay on every link", a.Delay)
		}
	case VerbDuration:
		if a.Delay <= time.Since(sr.begun)-sr.paused {
			sr.duration = a.Delay
			sr.finish()
			break
		}
		sr.duration = a.Delay
		if sr.pausedAt.IsZero() {
			sr.resetEnd()
		}
	case VerbKillLeader:
		shard := x.killNext % c.Shards()
		x.killNext++
		x.background(func(ctx context.Context) {
			if node, err := c.KillLeader(ctx, shard); err != nil {
				x.eventLater(metrics.EventError, fmt.Sprintf("kill-leader on shard %d failed: %v", shard, err))
			} else {
				x.eventLater(metrics.EventFault, fmt.Sprintf("shard %d leader on %s killed; a new one took over", shard, node))
			}
		})
	case VerbCrash:
		var why string
		if a.Node, why, err = crashTarget(c.Status(), a.Node); err == nil {
			if err = c.CrashNode(a.Node); err == nil {
				fault = "crashed " + a.Node + why
			}
		}
	case VerbRestart:
		var ids []string
		if ids, err = restartTargets(c.Status(), a.Node); err == nil {
			fault = "restarting " + strings.Join(ids, ", ")
			x.background(func(ctx context.Context) {
				for _, id := range ids {
					if err := c.RestartNode(ctx, id); err != nil {
						x.eventLater(metrics.EventError, fmt.Sprintf("restarting %s failed: %v", id, err))
					} else {
						x.eventLater(metrics.EventFault, id+" restarted; it catches up from its shards' leaders")
					}
				}
			})
		}
	case VerbPartition:
		var why string
		if a.Node, why, err = partitionTarget(c.Status(), a.Node); err == nil {
			if err = c.Partition(a.Node); err == nil {
				fault = "partitioned " + a.Node + " off the network" + why
			}
		}
	case VerbHeal:
		c.Heal()
		fault = "healed every partition"
	case VerbPause:
		if !sr.pause() {
			return errors.New("already paused")
		}
	case VerbResume:
		if !sr.resume() {
			return errors.New("not paused")
		}
	case VerbNodes:
		x.background(func(ctx context.Context) { x.resize(ctx, a.Count) })
	}
	if err != nil {
		return err
	}
	x.newEpoch(a.String())
	if fault != "" {
		x.event(metrics.EventFault, fault)
	}
	return nil
}

// Resizer is a workload whose written values can change size live.
type Resizer interface {
	SetDataSize(n int)
}

// resize adds or removes nodes until the cluster has n; the newest nodes
// leave first.
func (x *run) resize(ctx context.Context, n int) {
	c := x.cluster
	for {
		nodes := c.Status().Nodes
		switch {
		case len(nodes) < n:
			id, err := c.AddNode(ctx)
			if err != nil {
				x.eventLater(metrics.EventError, "adding a node failed: "+err.Error())
				return
			}
			x.eventLater(metrics.EventMembership, "node "+id+" joined")
		case len(nodes) > n:
			id := nodes[len(nodes)-1].ID
			if err := c.RemoveNode(ctx, id); err != nil {
				x.eventLater(metrics.EventError, "removing "+id+" failed: "+err.Error())
				return
			}
			x.eventLater(metrics.EventMembership, "node "+id+" left")
		default:
			return
		}
	}
}

// background runs a slow change (a node joining, a leader being killed)
// off the runner's goroutine; the run waits for it before shutting the
// cluster down.
func (x *run) background(f func(ctx context.Context)) {
	x.bg.Add(1)
	go func() {
		defer x.bg.Done()
		defer x.recoverClient(func() {})
		f(x.bgCtx)
	}()
}

// eventLater records an event from a background change; the next tick
// publishes it.
func (x *run) eventLater(kind metrics.EventKind, msg string) {
	x.pendingMu.Lock()
	x.pending = append(x.pending, metrics.Event{Kind: kind, Message: msg})
	x.pendingMu.Unlock()
}

// newEpoch closes the current epoch at a fresh tick and opens one for change.
func (x *run) newEpoch(change string) {
	x.tick(time.Now(), metrics.PhaseRunning)
	x.closeEpoch()
	x.collector.NewEpoch()
	x.epochStart, x.epochChange = x.elapsed, change
	x.event(metrics.EventEpoch, fmt.Sprintf("epoch %d: %s", len(x.epochs)+1, change))
}

// closeEpoch records the current epoch's figures as they stand.
func (x *run) closeEpoch() {
	x.epochs = append(x.epochs, epochOf(len(x.epochs)+1, x.epochStart, x.elapsed, x.epochChange, x.ops))
}

// epochOf is an epoch with the figures ops hold for it, leaving out the
// ops that did nothing in it.
func epochOf(index int, start, end time.Duration, change string, ops []metrics.OpStats) metrics.Epoch {
	e := metrics.Epoch{Index: index, Start: start, End: end, Change: change}
	for _, o := range ops {
		if o.Epoch.Count > 0 || o.Epoch.Errors > 0 || o.Epoch.Elapsed > 0 {
			e.Ops = append(e.Ops, metrics.EpochOp{Name: o.Name, Suite: o.Suite, Figures: o.Epoch})
		}
	}
	return e
}

// untilNextScripted is how long until the next scripted action is due.
func (x *run) untilNextScripted() time.Duration {
	if len(x.script) == 0 {
		return time.Hour
	}
	return max(time.Until(x.loadStart.Add(x.script[0].At)), 0)
}

// runScripted applies every scripted action that is due.
func (x *run) runScripted(sr *suiteRun) {
	for len(x.script) > 0 && time.Since(x.loadStart) >= x.script[0].At {
		a := x.script[0]
		x.script = x.script[1:]
		if err := x.apply(sr, a.Action); err != nil {
			x.event(metrics.EventError, fmt.Sprintf("--at %v:%s: %v", a.At, a.Action, err))
		}
	}
}

package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// minBackoff and maxBackoff pace retries across a leader change, which
	// takes one to two heartbeat timeouts: short enough that a call resumes
	// soon after the new leader is up, long enough not to spin.
	minBackoff = 1 * time.Millisecond
	maxBackoff = 10 * time.Millisecond
	// applyRecheck bounds one wait for a state machine to apply an index
	// (retry.awaitApplied), so that the waiter looks again at whether the
	// replica stopped or was replaced. The wait itself ends as soon as the
	// state machine applies something.
	applyRecheck = 5 * time.Millisecond
)

// Put stores value under key once a quorum of the key's shard has it in its
// log and the leader has applied it. Put does not keep value. If Put gives
// up (at the deadline, or on Close) the write may still be applied later.
//
// A call whose ctx has no deadline gets Config.OpTimeout. Cancelling ctx
// stops the retries; an attempt already handed to raft runs to its end,
// which the leader lease bounds.
func (c *Cluster) Put(ctx context.Context, key string, value []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	rt := c.newRetry(ctx, "put")
	defer rt.stop()
	_, err := c.put(c.shardFor(key), key, value, &rt)
	return err
}

// put replicates a put through sh's leader, retrying as rt allows, and
// returns the entry's log index. A put that meets a transaction's lock
// applies nothing (fsm.applyLocked); put then settles the lock from its
// transaction's decision record (settle) and tries again, waiting while
// the transaction is undecided, until its lock expires and is resolved.
// So a put is ordered after any transaction that locked its key, and no
// intent ever overwrites it.
func (c *Cluster) put(sh *shard, key string, value []byte, rt *retry) (uint64, error) {
	cmd := encodePut(key, value)
	for {
		index, _, err := c.replicate(sh, cmd, rt)
		var le *lockedError
		if err == nil || !errors.As(err, &le) {
			return index, err
		}
		changed, err := c.settle(rt.ctx, sh, []lockHolder{le.holder})
		if err != nil {
			return 0, fmt.Errorf("core: %s: settling %w: %w", rt.op, le, err)
		}
		if !changed {
			rt.last = le
			if err := rt.pause(); err != nil {
				return 0, err
			}
		}
	}
}

// replicate applies cmd through sh's leader, retrying leader changes as rt
// allows, and returns the entry's log index and the state machine's
// response.
func (c *Cluster) replicate(sh *shard, cmd []byte, rt *retry) (uint64, any, error) {
	for {
		timeout, err := rt.begin()
		if err != nil {
			return 0, nil, err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			var index uint64
			var resp any
			if index, resp, err = rep.applyTimed(cmd, timeout, rt.ph); err == nil {
				return index, resp, nil
			}
		}
		sh.forget(rep)
		if err := rt.after(err); err != nil {
			return 0, nil, err
		}
	}
}

// Get returns the value of key as of some moment between the call and its
// return: it sees every write acknowledged before it began, a committed
// transaction's too. It returns ErrNotFound when key has no value.
// Deadlines are as for Put.
//
// A key locked by a prepared transaction holds the value from before it.
// Get asks the transaction's decision record: if it committed (Txn may
// have acknowledged it while this participant was cut off), Get finishes
// it here first and reads again; if it is undecided the read is ordered
// before it.
func (c *Cluster) Get(ctx context.Context, key string) ([]byte, error) {
	return c.get(ctx, key, nil)
}

// get is Get, adding the phases of its reads to ph when ph is not nil.
func (c *Cluster) get(ctx context.Context, key string, ph *Phases) ([]byte, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	sh := c.shardFor(key)
	rt := c.newRetry(ctx, "get")
	rt.ph = ph
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return nil, err
		}
		rep, err := sh.leaderReplica()
		if err == nil {
			var v []byte
			var ok bool
			var held []lockHolder
			if v, ok, held, err = readOnLeader(rep, key, timeout, &rt); err == nil {
				if held != nil {
					// Settle the lock, and read again if that changed
					// anything; a transaction still undecided is ordered
					// after this read, which sees the value before it.
					again, err := c.settle(ctx, sh, held)
					if err != nil {
						return nil, fmt.Errorf("core: get: %w", err)
					}
					if again {
						continue
					}
				}
				if !ok {
					return nil, ErrNotFound
				}
				return bytes.Clone(v), nil
			}
		}
		sh.forget(rep)
		if err := rt.after(err); err != nil {
			return nil, err
		}
	}
}

// readOnLeader is a read-index read, as in the Raft paper (§6.4): it costs a
// heartbeat round instead of a log entry. It also returns the holder of a
// lock on key, if any.
func readOnLeader(rep *replica, key string, timeout time.Duration, rt *retry) ([]byte, bool, []lockHolder, error) {
	if rep.remote != nil {
		a, err := rep.remoteRead(fsmQuery{Kind: "get", Barrier: true, Key: key}, timeout, rt.ph)
		if err != nil {
			return nil, false, nil, err
		}
		return a.Value, a.Found, holdersFromWire(a.Held), nil
	}
	if err := readBarrier(rep, timeout, rt); err != nil {
		return nil, false, nil, err
	}
	v, ok, held := rep.fsm.getHeld(key)
	return v, ok, held, nil
}

// readBarrier returns once rep's state machine reflects every write
// acknowledged before the call, or with an error if rep cannot prove it
// leads. What rep's state machine holds afterwards is linearizable.
func readBarrier(rep *replica, timeout time.Duration, rt *retry) error {
	if !rep.enter() {
		return raft.ErrRaftShutdown
	}
	defer rep.exit()
	t0 := rt.ph.clock()
	term := rep.raft.CurrentTerm()
	if rep.readyTerm.Load() != term {
		if err := rep.apply(noopCommand, timeout); err != nil {
			return err
		}
	}
	readIndex := rep.raft.CommitIndex()
	if err := rep.raft.VerifyLeader().Error(); err != nil {
		return err
	}
	t1 := rt.ph.clock()
	// A replica leads at most once per term. The same term before and
	// after VerifyLeader proves it led throughout, from the entry that made
	// it ready to the quorum round, so readIndex covered every write
	// acknowledged before the read began.
	if rep.raft.CurrentTerm() != term {
		return errTermChanged
	}
	for rep.fsm.appliedIndex() < readIndex {
		if rep.stopped.Load() {
			return raft.ErrRaftShutdown
		}
		if rt.expired() {
			return errApplyLag
		}
		rt.awaitApplied(rep.fsm, readIndex)
	}
	if ph := rt.ph; ph != nil {
		t2 := nanotime()
		ph.ReadIndex += time.Duration(t1 - t0)
		ph.ApplyWait += time.Duration(t2 - t1)
	}
	return nil
}

// LocalGet reads key from the state machine of node's replica, without
// asking the leader: the value may be stale. It is there to check
// replication. It returns ErrUnknownNode when node does not exist or hosts
// no replica of key's shard.
func (c *Cluster) LocalGet(node, key string) ([]byte, bool, error) {
	if c.closed.Load() {
		return nil, false, ErrClosed
	}
	n, err := c.node(node)
	if err != nil {
		return nil, false, err
	}
	sh := c.shardFor(key)
	st := n.seatOf(sh.id)
	if st == nil {
		return nil, false, fmt.Errorf("%w: %s hosts no replica of shard %d", ErrUnknownNode, node, sh.id)
	}
	v, ok := st.replica().localGet(key)
	return bytes.Clone(v), ok, nil
}

// retry paces the attempts of one client call. It lives on the caller's
// stack and makes a timer only if the call has to wait.
type retry struct {
	c        *Cluster
	ctx      context.Context
	op       string
	deadline time.Time
	backoff  time.Duration
	timer    *time.Timer
	last     error // the last retryable error, reported when the call gives up
	// ph, when not nil, is where the call's phases go (phases.go).
	ph *Phases
}

func (c *Cluster) newRetry(ctx context.Context, op string) retry {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.cfg.OpTimeout)
	}
	return retry{c: c, ctx: ctx, op: op, deadline: deadline, backoff: minBackoff}
}

// begin returns the time left for the next attempt, or the error the call
// returns when there is none.
func (r *retry) begin() (time.Duration, error) {
	if r.c.closed.Load() {
		return 0, ErrClosed
	}
	if err := r.ctx.Err(); err != nil {
		return 0, r.giveUp(err)
	}
	left := time.Until(r.deadline)
	if left <= 0 {
		return 0, r.giveUp(context.DeadlineExceeded)
	}
	return left, nil
}

func (r *retry) expired() bool {
	return (r.c != nil && r.c.closed.Load()) || r.ctx.Err() != nil || !time.Now().Before(r.deadline)
}

// after takes a failed attempt's error. It returns nil, after a short
// backoff, when the call should try again, or the error the call returns.
func (r *retry) after(err error) error {
	if r.c.closed.Load() {
		return ErrClosed
	}
	if !retryable(err) {
		return fmt.Errorf("core: %s: %w", r.op, err)
	}
	r.last = err
	return r.pause()
}

// pause waits a backoff before the next attempt. It returns nil when the
// call should try again (begin then reports a deadline that has passed),
// or ErrClosed.
func (r *retry) pause() error {
	wait := min(r.backoff, time.Until(r.deadline))
	if wait <= 0 {
		return nil // begin reports the deadline
	}
	r.backoff = min(2*r.backoff, maxBackoff)
	if r.timer == nil {
		r.timer = time.NewTimer(wait)
	} else {
		r.timer.Reset(wait)
	}
	select {
	case <-r.timer.C:
		return nil
	case <-r.ctx.Done():
		return nil // begin reports it
	case <-r.c.done:
		return ErrClosed
	}
}

// awaitApplied waits until f has applied index, or for applyRecheck at
// most, or until the call's deadline, its context's end or the cluster's
// close; the caller looks again at what it waits for. It wakes when f
// applies, rather than polling, which on a busy machine cost a timer and a
// wake-up every 50 µs of a wait for the commit index to reach a follower.
func (r *retry) awaitApplied(f *fsm, index uint64) {
	moved, done := f.watchApplied()
	defer done()
	if f.appliedIndex() >= index {
		return
	}
	wait := min(applyRecheck, time.Until(r.deadline))
	if wait <= 0 {
		return
	}
	if r.timer == nil {
		r.timer = time.NewTimer(wait)
	} else {
		r.timer.Reset(wait)
	}
	var closed <-chan struct{} // nil, never ready, for a node host's retry, which has no cluster
	if r.c != nil {
		closed = r.c.done
	}
	select {
	case <-moved:
		r.timer.Stop()
	case <-r.timer.C:
	case <-r.ctx.Done():
		r.timer.Stop()
	case <-closed:
		r.timer.Stop()
	}
}

func (r *retry) stop() {
	if r.timer != nil {
		r.timer.Stop()
	}
}

// giveUp wraps the last retryable error with the context error, so that
// errors.Is matches both; leadership trouble is reported as ErrNoLeader.
func (r *retry) giveUp(ctxErr error) error {
	switch {
	case r.last == nil:
		return fmt.Errorf("core: %s: %w", r.op, ctxErr)
	case errors.Is(r.last, ErrNoLeader):
		return fmt.Errorf("%w for %s: %w", ErrNoLeader, r.op, ctxErr)
	case leadershipTrouble(r.last):
		return fmt.Errorf("%w for %s (%v): %w", ErrNoLeader, r.op, r.last, ctxErr)
	default:
		return fmt.Errorf("core: %s: %w: %w", r.op, r.last, ctxErr)
	}
}

// leadershipTrouble reports errors that mean the replica asked was not, or
// stopped being, the leader.
func leadershipTrouble(err error) bool {
	return errors.Is(err, ErrNoLeader) ||
		errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, raft.ErrRaftShutdown) ||
		errors.Is(err, ErrNodeUnreachable) ||
		errors.Is(err, errTermChanged)
}

func retryable(err error) bool {
	return leadershipTrouble(err) ||
		// The apply timeout is the call's remaining time, so begin gives up
		// next; retrying reports it together with the deadline.
		errors.Is(err, raft.ErrEnqueueTimeout) ||
		errors.Is(err, errApplyLag)
}

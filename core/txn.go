package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Two-phase commit over the shards' Raft groups.
//
// Prepare: each participant shard but the coordinator's (the shard of the
// first key) replicates a prepare command that locks the transaction's keys
// there and stores its intents (the values the keys get on commit) in the
// state machine; a key already locked makes the shard vote no, so
// transactions never wait on each other and cannot deadlock. Decide: once
// every other participant voted yes, the coordinator shard replicates one
// command that writes the decision record, keyed by the transaction id, and
// applies the coordinator's own writes, checked as a prepare would check
// them (the last participant decides, so its keys need no locks). The first
// decision written for an id wins. Commit: every other participant
// replicates a finish command that applies or drops the intents and
// releases the locks. A transaction on one shard is thus one command, and
// one on two shards three, in three rounds.
//
// Aborts are presumed: a transaction that aborts before deciding writes no
// decision record, and a lock whose transaction has none is aborted by
// whoever resolves it. Resolution: a prepare (or a saga step) that meets a
// lock older than Config.TxnLockTimeout writes an abort decision on the
// lock's coordinator shard, which returns the real decision instead if one
// is there, and finishes the lock's transaction on that shard accordingly.
// ResolveLocks does the same for every expired lock in the cluster.

type opKind byte

const (
	opSet opKind = 1 + iota
	opAdd
	opDelete
)

// Op is one write of a transaction or a saga step, made by Set, Add or
// Delete.
type Op struct {
	Key   string
	Value []byte // for Set
	Delta int64  // for Add
	kind  opKind
}

// Set writes value to key.
func Set(key string, value []byte) Op { return Op{Key: key, Value: value, kind: opSet} }

// Add adds delta to the integer stored at key as decimal text (a missing
// key counts as 0). It fails the transaction or step with
// ErrConditionFailed if the result would be negative or the key holds
// something else, which is the no-overdraft check of a bank transfer.
func Add(key string, delta int64) Op { return Op{Key: key, Delta: delta, kind: opAdd} }

// Delete removes key.
func Delete(key string) Op { return Op{Key: key, kind: opDelete} }

// Txn is a set of writes, each to a different key, that commit together or
// not at all, whichever shards the keys are on.
type Txn struct {
	Ops []Op
}

// AbortReason says why a transaction aborted.
type AbortReason byte

const (
	// NotAborted is the reason of a transaction that committed, or whose
	// outcome the call could not learn.
	NotAborted AbortReason = iota
	// AbortConflict: a key was locked by another transaction.
	AbortConflict
	// AbortCondition: an Add would have overdrawn its key.
	AbortCondition
	// AbortResolved: the transaction took so long that another client
	// resolved its locks and aborted it.
	AbortResolved
	// AbortError: a participant could not be reached before the deadline.
	AbortError
)

func (r AbortReason) String() string {
	return [...]string{"none", "conflict", "condition", "resolved", "error"}[r]
}

// TxnResult reports a transaction's outcome and how long each phase took.
// Decide and Commit are zero when the transaction aborted in prepare; the
// abort's own round is then in Commit. A transaction on one shard has no
// Prepare or Commit: its Decide commits it.
type TxnResult struct {
	ID           uint64
	Coord        int // the shard holding the decision record; see TxnOutcome
	Committed    bool
	Abort        AbortReason
	Participants int // shards written to
	Prepare      time.Duration
	Decide       time.Duration
	Commit       time.Duration
	// Resolved counts other transactions' expired locks this one resolved.
	Resolved int
}

// txnCoord is the cluster's coordinator-side bookkeeping: decision records
// whose transactions have finished on every participant, waiting to be
// dropped by the next decision their coordinator shard writes, and the
// records of sagas that ended, waiting for the next saga command their
// shard applies.
type txnCoord struct {
	forget forgetQueue[uint64]
	sagas  forgetQueue[sagaKey]
}

// maxForget bounds the ids one command carries.
const maxForget = 512

// forgetQueue holds, per shard, records that shard may drop.
type forgetQueue[T any] struct {
	mu  sync.Mutex
	ids map[int][]T
}

func (q *forgetQueue[T]) push(shard int, ids ...T) {
	q.mu.Lock()
	if q.ids == nil {
		q.ids = make(map[int][]T)
	}
	q.ids[shard] = append(q.ids[shard], ids...)
	q.mu.Unlock()
}

func (q *forgetQueue[T]) take(shard int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := q.ids[shard]
	if len(ids) <= maxForget {
		delete(q.ids, shard)
		return ids
	}
	q.ids[shard] = ids[maxForget:]
	return ids[:maxForget:maxForget]
}

type participant struct {
	sh  *shard
	ops []Op
}

// participants groups ops by shard, the coordinator's (the first key's)
// first.
func (c *Cluster) participants(ops []Op) ([]participant, error) {
	var parts []participant
	seen := make(map[string]bool, len(ops))
	for _, o := range ops {
		if o.kind == 0 {
			return nil, fmt.Errorf("core: op on %q was not made by Set, Add or Delete", o.Key)
		}
		if seen[o.Key] {
			return nil, fmt.Errorf("core: transaction writes %q twice; merge the writes into one", o.Key)
		}
		seen[o.Key] = true
		sh := c.shardFor(o.Key)
		i := 0
		for i < len(parts) && parts[i].sh != sh {
			i++
		}
		if i == len(parts) {
			parts = append(parts, participant{sh: sh})
		}
		parts[i].ops = append(parts[i].ops, o)
	}
	if len(parts) == 0 {
		return nil, errors.New("core: transaction has no writes")
	}
	return parts, nil
}

// Txn runs t by two-phase commit and returns once it has committed on every
// participant, or aborted. An aborted transaction returns ErrAborted
// wrapped with the reason (ErrConflict or ErrConditionFailed); conflicts
// never wait. Any other error (a deadline, Close) may leave the outcome
// unknown until the transaction's locks are resolved, which happens at the
// latest Config.TxnLockTimeout later when something meets them.
//
// Reads (Get) see committed values only: a prepared transaction's writes
// stay invisible until its commit applies on their shard. Put ignores
// locks, so mixing Put and Txn on a key loses the Put if the transaction
// commits after it.
func (c *Cluster) Txn(ctx context.Context, t Txn) (TxnResult, error) {
	var res TxnResult
	if c.closed.Load() {
		return res, ErrClosed
	}
	parts, err := c.participants(t.Ops)
	if err != nil {
		return res, err
	}
	res.ID = rand.Uint64() | 1
	res.Participants = len(parts)
	coord, others := parts[0], parts[1:]
	res.Coord = coord.sh.id

	start := time.Now()
	// Each participant's prepare writes only its own slot.
	prepared := make([]prepareResult, len(others))
	if len(others) > 0 {
		fanout(len(others), func(i int) {
			cmd := encodePrepare(res.ID, coord.sh.id, start.UnixNano(), others[i].ops)
			p := &prepared[i]
			p.vote, p.resolved, p.err = c.prepareOn(ctx, others[i].sh, cmd)
		})
		res.Prepare = time.Since(start)
	}

	var abortErr error
	for _, p := range prepared {
		res.Resolved += p.resolved
		switch {
		case p.err != nil:
			res.Abort, abortErr = AbortError, p.err
		case abortErr == nil && p.vote.vote != voteYes:
			res.Abort, abortErr = abortFor(p.vote.vote)
		}
	}
	if abortErr != nil {
		// Presumed abort: no decision record. Participants whose prepare
		// failed are told too, in case it applied after all.
		t0 := time.Now()
		var undo []participant
		for i, p := range others {
			if prepared[i].err != nil || prepared[i].vote.vote == voteYes {
				undo = append(undo, p)
			}
		}
		_ = c.finishAll(ctx, undo, res.ID, false)
		res.Commit = time.Since(t0)
		return res, abortErr
	}
	if hooks.txnStopAfter == phasePrepare {
		return res, errTxnStopped
	}

	t0 := time.Now()
	v, n, err := c.commitOn(ctx, coord, res.ID)
	res.Decide = time.Since(t0)
	res.Resolved += n
	if err != nil {
		return res, fmt.Errorf("core: transaction %x has an unknown outcome until its locks are resolved: %w", res.ID, err)
	}
	if v != voteYes {
		t0 = time.Now()
		_ = c.finishAll(ctx, others, res.ID, false)
		res.Commit = time.Since(t0)
		res.Abort, abortErr = abortFor(v)
		return res, abortErr
	}
	res.Committed = true
	if hooks.txnStopAfter == phaseDecide {
		return res, errTxnStopped
	}

	if len(others) > 0 {
		t0 = time.Now()
		err = c.finishAll(ctx, others, res.ID, true)
		res.Commit = time.Since(t0)
		if err != nil {
			// Committed: the decision record stays, so that whoever meets
			// the remaining locks commits them.
			return res, nil
		}
	}
	c.txn.forget.push(coord.sh.id, res.ID)
	return res, nil
}

// prepareResult is one participant's answer to a prepare: its vote, how
// many expired locks it resolved on the way, or why it could not vote.
type prepareResult struct {
	vote     voteResp
	resolved int
	err      error
}

// abortFor returns the reason and error of a transaction aborted by v.
func abortFor(v vote) (AbortReason, error) {
	switch v {
	case voteCondition:
		return AbortCondition, fmt.Errorf("%w: %w", ErrAborted, ErrConditionFailed)
	case voteResolved:
		// Someone resolved our locks as expired before we decided.
		return AbortResolved, fmt.Errorf("%w: %w: its locks expired and were resolved", ErrAborted, ErrConflict)
	default:
		return AbortConflict, fmt.Errorf("%w: %w", ErrAborted, ErrConflict)
	}
}

// commitOn decides id on its coordinator shard and applies the
// coordinator's own writes there in the same command. Like prepareOn, it
// resolves expired locks it meets and tries once more. It returns voteYes
// once the transaction has committed, and how many locks it resolved.
func (c *Cluster) commitOn(ctx context.Context, coord participant, id uint64) (vote, int, error) {
	forget := c.txn.forget.take(coord.sh.id)
	try := func() (voteResp, error) {
		resp, err := c.propose(ctx, coord.sh, encodeCommit(id, forget, coord.ops), "txn commit")
		if err != nil {
			// The forgets may not have applied; dropping them twice is
			// harmless.
			c.txn.forget.push(coord.sh.id, forget...)
			return voteResp{}, err
		}
		forget = nil
		return resp.(voteResp), nil
	}
	v, err := try()
	if err != nil || v.vote != voteConflict {
		return v.vote, 0, err
	}
	n, err := c.resolveHolders(ctx, coord.sh, v.holders)
	if err != nil || n == 0 {
		return v.vote, n, nil
	}
	v, err = try()
	return v.vote, n, err
}

// fanout runs f(0..n-1) in parallel, the last on the calling goroutine.
func fanout(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() { f(i) })
	}
	f(n - 1)
	wg.Wait()
}

// prepareOn replicates a prepare on sh. On a conflict with expired locks it
// resolves them and tries once more. It also returns how many locks it
// resolved.
func (c *Cluster) prepareOn(ctx context.Context, sh *shard, cmd []byte) (voteResp, int, error) {
	resp, err := c.propose(ctx, sh, cmd, "txn prepare")
	if err != nil {
		return voteResp{}, 0, err
	}
	v := resp.(voteResp)
	if v.vote != voteConflict {
		return v, 0, nil
	}
	n, err := c.resolveHolders(ctx, sh, v.holders)
	if err != nil || n == 0 {
		return v, n, nil
	}
	resp, err = c.propose(ctx, sh, cmd, "txn prepare")
	if err != nil {
		return voteResp{}, n, err
	}
	return resp.(voteResp), n, nil
}

// resolveHolders resolves, on sh, the transactions among holders whose
// locks have expired, and returns how many it resolved.
func (c *Cluster) resolveHolders(ctx context.Context, sh *shard, holders []lockHolder) (int, error) {
	now := time.Now().UnixNano()
	limit := int64(c.cfg.txnLockTimeout())
	n := 0
	var done []uint64
	for _, h := range holders {
		if now-h.start < limit || containsID(done, h.txn) {
			continue
		}
		done = append(done, h.txn)
		if err := c.resolve(ctx, sh, h); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// resolve settles h's transaction on sh: it writes an abort decision on the
// coordinator shard, which yields the decision already there if any, and
// finishes the transaction on sh accordingly.
func (c *Cluster) resolve(ctx context.Context, sh *shard, h lockHolder) error {
	coord, err := c.shard(h.coord)
	if err != nil {
		return err
	}
	committed, err := c.decide(ctx, coord, h.txn, false)
	if err != nil {
		return err
	}
	_, err = c.propose(ctx, sh, encodeFinish(h.txn, committed), "txn resolve")
	return err
}

// decide writes a decision record on coord, or reads the one already there,
// and returns the decision that holds: true for commit.
func (c *Cluster) decide(ctx context.Context, coord *shard, id uint64, commit bool) (bool, error) {
	forget := c.txn.forget.take(coord.id)
	resp, err := c.propose(ctx, coord, encodeDecide(id, commit, forget), "txn decide")
	if err != nil {
		// The forgets may not have applied; dropping them twice is harmless.
		c.txn.forget.push(coord.id, forget...)
		return false, err
	}
	return resp.(bool), nil
}

// finishAll commits or aborts id on every participant in parallel. It runs
// to its end even if ctx is cancelled, within Config.OpTimeout, because the
// decision is already made.
func (c *Cluster) finishAll(ctx context.Context, parts []participant, id uint64, commit bool) error {
	if len(parts) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	errs := make([]error, len(parts))
	cmd := encodeFinish(id, commit)
	fanout(len(parts), func(i int) {
		_, errs[i] = c.propose(ctx, parts[i].sh, cmd, "txn finish")
	})
	return errors.Join(errs...)
}

// propose replicates cmd through sh's leader, in a batch with whatever
// other transaction commands go to sh at the same time, retrying leader
// changes until ctx's deadline (or Config.OpTimeout), and returns the state
// machine's response. A command may apply more than once across a retry,
// so every transaction command is idempotent.
func (c *Cluster) propose(ctx context.Context, sh *shard, cmd []byte, op string) (any, error) {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return nil, err
		}
		var resp any
		resp, err = sh.batch.do(cmd, func(entry []byte) (any, error) {
			return sendEntry(sh, entry, timeout)
		})
		if err == nil {
			if e, ok := resp.(error); ok {
				err = e
			} else {
				return resp, nil
			}
		}
		if err = rt.after(err); err != nil {
			return nil, err
		}
	}
}

// sendEntry makes one attempt at replicating entry through sh's leader.
func sendEntry(sh *shard, entry []byte, timeout time.Duration) (any, error) {
	rep, err := sh.leaderReplica()
	if err != nil {
		return nil, err
	}
	_, resp, err := rep.applyAt(entry, timeout)
	if err != nil {
		sh.forget(rep)
	}
	return resp, err
}

// ResolveLocks resolves every lock in the cluster older than
// Config.TxnLockTimeout, as a transaction meeting it would, and returns how
// many transactions' locks it resolved. Run it after a load to make sure
// no coordinator that died left anything locked.
func (c *Cluster) ResolveLocks(ctx context.Context) (int, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	total := 0
	for _, sh := range c.shards {
		rep, err := c.waitLeader(ctx, sh, "resolve locks")
		if err != nil {
			return total, err
		}
		n, err := c.resolveHolders(ctx, sh, rep.fsm.lockHolders())
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Locks counts the locks held on every shard's leader: prepared
// transactions not yet finished there. It reads the leaders' state without
// a quorum round, so it may be a moment stale.
func (c *Cluster) Locks() int {
	n := 0
	for _, sh := range c.shards {
		if rep, err := sh.leaderReplica(); err == nil {
			n += rep.fsm.lockCount()
		}
	}
	return n
}

// lockCount counts the keys locked by prepared transactions.
func (f *fsm) lockCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.tx.locks)
}

// lockHolders returns one holder per locked transaction.
func (f *fsm) lockHolders() []lockHolder {
	f.mu.RLock()
	defer f.mu.RUnlock()
	hs := make([]lockHolder, 0, len(f.tx.byTxn))
	for _, keys := range f.tx.byTxn {
		if len(keys) > 0 {
			if l := f.tx.locks[keys[0]]; l != nil {
				hs = append(hs, l.holder)
			}
		}
	}
	return hs
}

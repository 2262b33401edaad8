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
// Readers and puts that meet a lock settle it from the decision record
// (settle), so an acknowledged commit is never read as not applied.
//
// Time and records: the coordinator's commands carry the proposer's clock,
// and each shard's state machine keeps the latest as its clock, the same
// on every replica. A transaction must decide within its prepare window
// (Config.TxnLockTimeout from its start); once the window has closed on
// the coordinator shard's clock no commit can be written for it, so a
// missing record means abort for good. A commit record is kept while any
// participant may hold a lock for it (until Txn, or ResolveLocks'
// recovery, has finished it everywhere), then, like an abort record, for
// Config.TxnRecordRetention past the window, for TxnOutcome; then it goes.
// Saga records go a retention after their command, or at once when the
// saga ended with every command answered.

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
	Coord        int       // the shard holding the decision record; see TxnOutcome
	Start        time.Time // when it began: its prepare window starts here
	Committed    bool
	Abort        AbortReason
	Participants int // shards written to
	Prepare      time.Duration
	Decide       time.Duration
	Commit       time.Duration
	// DecidePhases is where Decide's time went: the decision record's
	// entry on the coordinator's shard, from its batcher to its apply
	// (phases.go). Its phases add up to at most Decide.
	DecidePhases Phases
	// Resolved counts other transactions' expired locks this one resolved.
	Resolved int
}

// txnCoord is the cluster's coordinator-side bookkeeping: commit records
// whose transactions have finished on every participant and been
// acknowledged, waiting to be dropped by the next decision their
// coordinator shard writes, and the records of sagas that ended, waiting
// for the next saga command their shard applies.
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

// Txn runs t by two-phase commit and returns once it has committed or
// aborted. An aborted transaction returns ErrAborted wrapped with the
// reason (ErrConflict, ErrConditionFailed, or the error that kept a
// participant from preparing); conflicts never wait. An error that wraps
// ErrOutcomeUnknown (and the context error, if that was the cause) means
// the transaction may have committed or not: TxnOutcome finds out. Any
// other error means it never began.
//
// A commit is acknowledged once its decision record is written, and is
// visible from then on to every linearizable read on every participant,
// even one that never applied it: a participant cut off from the
// coordinator, or whose finish Txn could not deliver, holds the
// transaction's lock, and a reader (Get, Query, SumInts) that meets a
// lock asks the decision record and finishes the transaction there before
// answering. Readers resolve intents rather than Txn waiting for every
// participant because waiting cannot cover a participant cut off after
// the acknowledgement: something must make its old value unreadable, and
// the lock already does. An undecided transaction's intents stay
// invisible; the read is ordered before it.
//
// Put respects locks too: a put to a locked key waits for the decision
// (or for the lock to expire and be resolved), so it is ordered after the
// transaction and no intent ever overwrites it.
//
// Every transaction must decide within its prepare window,
// Config.TxnLockTimeout from its start: a commit later than that aborts
// (AbortResolved), which is what lets a resolver, a reader or TxnOutcome
// take a missing decision record as abort for good.
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
	res.Start = start
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
			// Nothing was decided and nothing will be: presumed abort
			// makes this a definite abort.
			res.Abort, abortErr = AbortError, fmt.Errorf("%w: a participant could not prepare: %w", ErrAborted, p.err)
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
	v, n, err := c.commitOn(ctx, coord, others, c.txnMeta(start), res.ID, &res.DecidePhases)
	res.Decide = time.Since(t0)
	res.Resolved += n
	if err != nil {
		return res, fmt.Errorf("%w: transaction %x: deciding: %w", ErrOutcomeUnknown, res.ID, err)
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
			// Committed: the decision record stays, and readers that meet
			// the remaining locks commit them; ResolveLocks finishes the
			// rest and then lets the record go.
			return res, nil
		}
	}
	// Finished everywhere, and the caller has the answer: nothing needs
	// the record.
	c.txn.forget.push(coord.sh.id, res.ID)
	return res, nil
}

// txnMeta is the timing the coordinator's commands carry for a
// transaction that started at start.
func (c *Cluster) txnMeta(start time.Time) txnMeta {
	return txnMeta{
		start:  start.UnixNano(),
		now:    time.Now().UnixNano(),
		window: int64(c.cfg.txnLockTimeout()),
		keep:   int64(c.cfg.txnRecordRetention()),
	}
}

// txnRecordRetention is Config.TxnRecordRetention with 0 (or less)
// resolved to its default.
func (c Config) txnRecordRetention() time.Duration {
	if c.TxnRecordRetention <= 0 {
		return DefaultConfig().TxnRecordRetention
	}
	return c.TxnRecordRetention
}

// lockedError is the state machine's answer to a put on a key that a
// transaction locks: nothing was written.
type lockedError struct {
	key    string
	holder lockHolder
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("key %q is locked by transaction %x", e.key, e.holder.txn)
}

func (e *lockedError) Unwrap() error { return ErrConflict }

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
func (c *Cluster) commitOn(ctx context.Context, coord participant, others []participant, m txnMeta, id uint64, ph *Phases) (vote, int, error) {
	forget := c.txn.forget.take(coord.sh.id)
	var parts []int
	if len(others) > 0 {
		parts = make([]int, len(others))
		for i, p := range others {
			parts[i] = p.sh.id
		}
	}
	try := func() (voteResp, error) {
		resp, err := c.proposeTimed(ctx, coord.sh, encodeCommit(id, m, forget, parts, coord.ops), "txn commit", ph)
		if err != nil {
			// The forgets may not have applied; forgetting twice is
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
	o, err := c.decide(ctx, coord, h.txn, h.start)
	if err != nil {
		return err
	}
	// A lock whose record aged out (OutcomeUnknown) is an abort's: a
	// commit record stays while any lock of its transaction does.
	_, err = c.propose(ctx, sh, encodeFinish(h.txn, o == OutcomeCommitted), "txn resolve")
	return err
}

// decide aborts id on coord unless it is decided already, and returns the
// decision that holds; OutcomeUnknown when the transaction is so old that
// even a commit record would have aged out.
func (c *Cluster) decide(ctx context.Context, coord *shard, id uint64, start int64) (Outcome, error) {
	forget := c.txn.forget.take(coord.id)
	m := c.txnMeta(time.Unix(0, start))
	resp, err := c.propose(ctx, coord, encodeDecide(id, m, forget), "txn decide")
	if err != nil {
		// The forgets may not have applied; forgetting twice is harmless.
		c.txn.forget.push(coord.id, forget...)
		return OutcomeUnknown, err
	}
	return resp.(Outcome), nil
}

// recordOf reads id's decision record on coord, linearizably:
// OutcomeUnknown when there is none.
func (c *Cluster) recordOf(ctx context.Context, coord *shard, id uint64) (Outcome, error) {
	r := &outcomeRead{id: id}
	err := c.readShard(ctx, coord, "txn record", r)
	return r.o, err
}

// settle brings the locks of held, found on sh by a reader or a put, up to
// date with their transactions' decisions: it finishes on sh those whose
// decision record says commit or abort, and resolves (aborts) those with
// none whose lock has expired. It reports whether it changed anything; a
// reader that sees no change may treat the remaining intents as invisible,
// for their transactions were undecided after it read.
func (c *Cluster) settle(ctx context.Context, sh *shard, held []lockHolder) (bool, error) {
	now := time.Now().UnixNano()
	limit := int64(c.cfg.txnLockTimeout())
	changed := false
	var seen []uint64
	for _, h := range held {
		if containsID(seen, h.txn) {
			continue
		}
		seen = append(seen, h.txn)
		coord, err := c.shard(h.coord)
		if err != nil {
			return changed, err
		}
		o, err := c.recordOf(ctx, coord, h.txn)
		if err != nil {
			return changed, err
		}
		switch {
		case o != OutcomeUnknown:
			_, err = c.propose(ctx, sh, encodeFinish(h.txn, o == OutcomeCommitted), "txn resolve")
		case now-h.start >= limit:
			err = c.resolve(ctx, sh, h)
		default:
			continue
		}
		if err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
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
	return c.proposeTimed(ctx, sh, cmd, op, nil)
}

// proposeTimed is propose that adds the phases of its successful attempt
// to ph when ph is not nil.
func (c *Cluster) proposeTimed(ctx context.Context, sh *shard, cmd []byte, op string, ph *Phases) (any, error) {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	for {
		timeout, err := rt.begin()
		if err != nil {
			return nil, err
		}
		var resp any
		resp, err = sh.batch.do(cmd, ph, func(entry []byte, ph *Phases) (any, error) {
			return sendEntry(sh, entry, timeout, ph)
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
func sendEntry(sh *shard, entry []byte, timeout time.Duration, ph *Phases) (any, error) {
	rep, err := sh.leaderReplica()
	if err != nil {
		return nil, err
	}
	_, resp, err := rep.applyTimed(entry, timeout, ph)
	if err != nil {
		sh.forget(rep)
	}
	return resp, err
}

// ResolveLocks resolves every lock in the cluster older than
// Config.TxnLockTimeout, as a transaction meeting it would, and returns how
// many transactions' locks it resolved. It also finishes, on every
// participant, the committed transactions whose coordinator could not
// (their prepare window closed with their record not marked done), so
// that their records can go. Run it after a load, or now and then during
// one, to make sure no coordinator that died left anything locked.
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
		held, err := rep.lockHolders()
		if err != nil {
			return total, err
		}
		n, err := c.resolveHolders(ctx, sh, held)
		total += n
		if err != nil {
			return total, err
		}
	}
	for _, sh := range c.shards {
		rep, err := c.waitLeader(ctx, sh, "resolve locks")
		if err != nil {
			return total, err
		}
		stale, err := rep.staleCommits(time.Now().UnixNano(), maxForget)
		if err != nil {
			return total, err
		}
		if err := c.finishStale(ctx, sh, stale); err != nil {
			return total, err
		}
	}
	return total, nil
}

// finishStale commits stale's transactions, coordinated by sh, on their
// participants, and marks their records done on sh.
func (c *Cluster) finishStale(ctx context.Context, sh *shard, stale map[uint64][]int) error {
	if len(stale) == 0 {
		return nil
	}
	done := make([]uint64, 0, len(stale))
	for id, ids := range stale {
		var parts []participant
		if ids == nil { // a record from before participants were kept
			for _, o := range c.shards {
				if o != sh {
					parts = append(parts, participant{sh: o})
				}
			}
		}
		for _, i := range ids {
			p, err := c.shard(i)
			if err != nil {
				return err
			}
			parts = append(parts, participant{sh: p})
		}
		if err := c.finishAll(ctx, parts, id, true); err != nil {
			return err
		}
		done = append(done, id)
	}
	_, err := c.propose(ctx, sh, encodeDone(time.Now().UnixNano(), done), "txn done")
	return err
}

// Locks counts the locks held on every shard's leader: prepared
// transactions not yet finished there. It reads the leaders' state without
// a quorum round, so it may be a moment stale.
func (c *Cluster) Locks() int {
	n := 0
	for _, sh := range c.shards {
		if rep, err := sh.leaderReplica(); err == nil {
			n += rep.lockCount()
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

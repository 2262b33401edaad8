package core

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
)

// txnState is the part of a shard's state machine that 2PC and sagas use.
// It lives in the FSM, and so in its snapshots, so that locks, intents and
// decisions outlive the leader that wrote them. The fsm's mutex guards it;
// lock and sagaRecord values are immutable once stored (a change stores a
// new one), so a snapshot may share them.
type txnState struct {
	// locks maps a locked key to its lock, which holds the intent: the
	// value the key gets if its transaction commits. Intents are invisible
	// to reads until then.
	locks map[string]*lock
	// byTxn lists the keys each prepared transaction locks on this shard.
	byTxn map[uint64][]string
	// decisions are the decision records of transactions this shard
	// coordinates. The first decision written wins. decOrder schedules
	// when each record is next looked at for dropping (expireLocked); an
	// entry whose record is gone is stale.
	decisions map[uint64]decision
	decOrder  []decSlot
	// clock is the latest proposer clock among the commands carrying one
	// (txnMeta.now), in Unix nanoseconds: the shard's own notion of time,
	// the same on every replica because it comes from the log. It closes
	// prepare windows and ages records out.
	clock int64
	// sagaSteps records every saga step applied, failed or compensated
	// here, so that replaying one is a no-op. Orchestrators drop the
	// records of sagas that ended cleanly (sagaForgetLocked). sagaOrder
	// keeps the rest oldest first, to drop the oldest past maxSagaRecords;
	// an entry whose seq is not its record's any more is stale.
	sagaSteps map[sagaKey]*sagaRecord
	sagaOrder []sagaSlot
	sagaSeq   uint64
}

// maxSagaRecords bounds the saga records a shard keeps. A record is only
// needed while its saga runs (to make a retried step or compensation a
// no-op), which is far shorter than the time this many steps take; the
// retention (sagaSlot.at) drops it sooner.
const maxSagaRecords = 1 << 17

// maxExpire bounds the records one command drops, so that a command that
// moves the clock far forward does not stall the apply loop.
const maxExpire = 64

type sagaSlot struct {
	key sagaKey
	seq uint64
}

// decision is a decision record: what a transaction became, and what it
// takes to drop the record safely.
//
// A commit record stays while any participant may still hold a lock for
// it (done is false until every other participant has finished it: parts
// lists them), because a reader or a resolver that meets such a lock asks
// the record, and no record means abort. Once done, and once the
// transaction's prepare window (start+window) has closed, it stays keep
// longer, so that TxnOutcome can still answer a client that lost the
// answer. An abort record needs no participant: once the window closed,
// no commit can be written for the transaction (commitLocked refuses it),
// so a missing record means abort just as well; it too stays keep longer.
type decision struct {
	commit bool
	done   bool  // no participant can hold a lock for it any more
	start  int64 // the transaction's start, coordinator clock, Unix ns
	at     int64 // the shard clock when written, or when it became done
	window int64 // the prepare window, from its command, ns
	keep   int64 // the retention, from its command, ns
	parts  []int // the other participants' shards, for a commit record
}

// dropAt is the clock from which d may be dropped, and whether it may be
// at all yet.
func (d decision) dropAt() (int64, bool) {
	if d.commit && !d.done {
		return 0, false
	}
	return max(d.at, d.start+d.window) + d.keep, true
}

func (d decision) outcome() Outcome {
	if d.commit {
		return OutcomeCommitted
	}
	return OutcomeAborted
}

type decSlot struct {
	id uint64
	at int64 // the clock at which to look at the record again
}

// txnMeta is the timing a coordinator's command carries: the
// transaction's start, the proposer's clock, the prepare window and the
// retention of records, all in nanoseconds. Carrying window and retention
// in the command keeps every replica's decision the same whatever its own
// configuration.
type txnMeta struct {
	start, now, window, keep int64
}

type lock struct {
	holder lockHolder
	value  []byte // the intent
	del    bool   // the intent deletes the key
}

// lockHolder says who holds a lock and where to find its decision.
type lockHolder struct {
	txn   uint64
	coord int   // the shard holding the decision record
	start int64 // the coordinator's clock at prepare, in Unix nanoseconds
}

type sagaKey struct {
	saga uint64
	step int
}

type sagaRecord struct {
	seq     uint64 // its place in sagaOrder, kept when a record replaces another
	key     string
	state   stepState
	kind    opKind
	delta   int64
	prev    []byte // the value a set replaced, for its compensation
	hadPrev bool
	// undoBy is, once a compensation undid the step, that compensation's
	// token: its replay answers as it did, another one finds nothing to
	// undo.
	undoBy uint64
	// until is the shard clock from which the record may be dropped: its
	// command's clock plus the retention it carried (0: kept until
	// forgotten or pushed out by maxSagaRecords).
	until int64
}

type stepState byte

const (
	stepApplied stepState = 1 + iota
	stepFailed            // its condition failed; nothing changed
	stepUndone            // compensated, or compensated before it arrived
)

func newTxnState() txnState {
	return txnState{
		locks:     make(map[string]*lock),
		byTxn:     make(map[uint64][]string),
		decisions: make(map[uint64]decision),
		sagaSteps: make(map[sagaKey]*sagaRecord),
	}
}

func (s *txnState) clone() txnState {
	return txnState{
		locks:     maps.Clone(s.locks),
		byTxn:     maps.Clone(s.byTxn),
		decisions: maps.Clone(s.decisions),
		decOrder:  append([]decSlot(nil), s.decOrder...),
		clock:     s.clock,
		sagaSteps: maps.Clone(s.sagaSteps),
		sagaOrder: append([]sagaSlot(nil), s.sagaOrder...),
		sagaSeq:   s.sagaSeq,
	}
}

// vote is a participant's answer to prepare, and a saga step's outcome.
type vote byte

const (
	voteYes       vote = 1 + iota
	voteConflict       // a key is locked by another transaction
	voteCondition      // an Add would leave a negative or non-integer value
	voteResolved       // the transaction was already decided to abort
)

type voteResp struct {
	vote    vote
	holders []lockHolder // with voteConflict, who holds the locks
}

// applyTxnEntryLocked applies a log entry of transaction or saga commands:
// one command, or a batch of them, and returns its response, which the
// leader's Apply future carries back to the caller. A batch's response is
// a []any with one response per command, in order; the caller holds f.mu
// for the whole batch, so no reader sees it half applied.
func (f *fsm) applyTxnEntryLocked(data []byte) any {
	if data[0] != opTxnBatch {
		return f.applyTxnLocked(data)
	}
	r := rbuf{b: data[1:]}
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		return errBadCommand
	}
	resps := make([]any, n)
	for i := range resps {
		cmd := r.bytes()
		if r.bad {
			return errBadCommand
		}
		if len(cmd) == 0 || cmd[0] == opTxnBatch {
			resps[i] = errBadCommand
			continue
		}
		if keepsValues(cmd[0]) {
			// What the state machine keeps aliases the command. Copying the
			// command lets it keep that small buffer rather than the whole
			// entry, which would otherwise live as long as any one value.
			cmd = bytes.Clone(cmd)
		}
		resps[i] = f.applyTxnLocked(cmd)
	}
	return resps
}

// keepsValues reports the commands whose state aliases the command bytes.
func keepsValues(op byte) bool {
	return op == opTxnPrepare || op == opSagaStep || op == opTxnCommit
}

// applyTxnLocked applies a transaction or saga command and returns its
// response, which the leader's Apply future carries back to the caller.
// f.mu must be held.
func (f *fsm) applyTxnLocked(data []byte) any {
	r := rbuf{b: data[1:]}
	var resp any
	switch data[0] {
	case opTxnPrepare:
		resp = f.prepareLocked(&r)
	case opTxnDecide:
		id, m := r.uvarint(), r.meta()
		forget := r.ids()
		if r.bad {
			return errBadCommand
		}
		f.tickLocked(m.now)
		f.forgetLocked(forget)
		resp = f.abortLocked(id, m)
		f.expireLocked()
	case opTxnDone:
		now, done := r.varint(), r.ids()
		if r.bad {
			return errBadCommand
		}
		f.tickLocked(now)
		f.doneLocked(done)
		f.expireLocked()
		return nil
	case opTxnFinish:
		id, commit := r.uvarint(), r.byte1() == 1
		if r.bad {
			return errBadCommand
		}
		f.finishLocked(id, commit)
		return nil
	case opSagaStep:
		resp = f.sagaStepLocked(&r)
	case opSagaUndo:
		resp = f.sagaUndoLocked(&r)
	case opTxnCommit:
		resp = f.commitLocked(&r)
	default:
		return errBadCommand
	}
	if r.bad {
		return errBadCommand
	}
	return resp
}

// prepareLocked locks every key of the command or none. A retried prepare
// of a transaction that already holds its locks votes yes again.
func (f *fsm) prepareLocked(r *rbuf) any {
	h := lockHolder{txn: r.uvarint(), coord: int(r.uvarint()), start: r.varint()}
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	if _, ok := f.tx.byTxn[h.txn]; ok {
		return voteResp{vote: voteYes}
	}
	keys, locks, vote, ok := f.stageLocked(r, n)
	if !ok {
		return vote
	}
	for i, k := range keys {
		l := locks[i]
		l.holder = h
		f.tx.locks[k] = &l
	}
	f.tx.byTxn[h.txn] = keys
	return voteResp{vote: voteYes}
}

// tickLocked moves the shard's clock to now if that is later.
func (f *fsm) tickLocked(now int64) { f.tx.clock = max(f.tx.clock, now) }

// forgetLocked drops the commit records ids at once: their coordinators
// finished them on every participant and told their clients, so neither a
// lock nor a client can ask for them. (A copy of their commit command
// cannot apply again either: a retried copy applies before the one whose
// answer the coordinator got, or never.)
func (f *fsm) forgetLocked(ids []uint64) {
	for _, id := range ids {
		if d, ok := f.tx.decisions[id]; ok && d.commit {
			delete(f.tx.decisions, id)
		}
	}
	// Their slots in decOrder go once stale slots outnumber live ones.
	if o := f.tx.decOrder; len(o) > 1024 && len(o) > 2*len(f.tx.decisions) {
		live := make([]decSlot, 0, 2*len(f.tx.decisions))
		for _, sl := range o {
			if _, ok := f.tx.decisions[sl.id]; ok {
				live = append(live, sl)
			}
		}
		f.tx.decOrder = live
	}
}

// doneLocked marks the commit records ids as finished on every
// participant: from now on they only wait out their retention.
func (f *fsm) doneLocked(ids []uint64) {
	for _, id := range ids {
		if d, ok := f.tx.decisions[id]; ok && d.commit && !d.done {
			d.done, d.at = true, f.tx.clock
			f.tx.decisions[id] = d
		}
	}
}

// abortLocked writes an abort decision for id unless one is there, and
// returns the decision that holds. With no record and the transaction's
// prepare window closed, nothing is written: no commit can be written any
// more either, so the answer is abort for good; and once even a commit
// record would have aged out, the answer is unknown.
func (f *fsm) abortLocked(id uint64, m txnMeta) Outcome {
	if d, ok := f.tx.decisions[id]; ok {
		return d.outcome()
	}
	closed := m.start + m.window
	switch {
	case closed+m.keep < f.tx.clock:
		return OutcomeUnknown
	case closed < f.tx.clock:
		return OutcomeAborted
	}
	f.tx.putDecision(id, decision{start: m.start, at: f.tx.clock, window: m.window, keep: m.keep})
	return OutcomeAborted
}

// putDecision stores a new decision record and schedules its dropping.
func (s *txnState) putDecision(id uint64, d decision) {
	s.decisions[id] = d
	at, ok := d.dropAt()
	if !ok {
		at = d.start + d.window + d.keep
	}
	s.decOrder = append(s.decOrder, decSlot{id: id, at: at})
}

// expireLocked drops, oldest first, the decision records whose time has
// come, at most maxExpire of them. A record not yet droppable (a commit
// still being finished) is looked at again a retention later.
func (f *fsm) expireLocked() {
	s := &f.tx
	for range maxExpire {
		if len(s.decOrder) == 0 || s.decOrder[0].at > s.clock {
			break
		}
		sl := s.decOrder[0]
		s.decOrder = s.decOrder[1:]
		d, ok := s.decisions[sl.id]
		if !ok {
			continue
		}
		at, ok := d.dropAt()
		if ok && at <= s.clock {
			delete(s.decisions, sl.id)
			continue
		}
		if !ok {
			at = s.clock + max(d.keep, 1)
		}
		s.decOrder = append(s.decOrder, decSlot{id: sl.id, at: at})
	}
	if len(s.decOrder) == 0 {
		s.decOrder = nil // let the drained array go
	}
}

// staleCommits returns up to n commit records not known to be finished
// everywhere whose prepare window closed before now: those whose
// coordinator gave up finishing them.
func (f *fsm) staleCommits(now int64, n int) map[uint64][]int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[uint64][]int)
	for id, d := range f.tx.decisions {
		if len(out) == n {
			break
		}
		if d.commit && !d.done && d.start+d.window < now {
			out[id] = d.parts
		}
	}
	return out
}

// stageLocked reads a command's n ops and works out each key's write, as
// prepare locks it and the coordinator's commit applies it. ok is false
// when nothing may be written: a key is locked by another transaction
// (vote says which), an Add would overdraw, or the command is malformed
// (vote is nil and r.bad is set).
func (f *fsm) stageLocked(r *rbuf, n uint64) (keys []string, writes []lock, vote any, ok bool) {
	keys, writes = make([]string, 0, n), make([]lock, 0, n)
	var conflict []lockHolder
	cond := false
	for range n {
		kind, key, value, delta := r.op()
		if r.bad {
			return nil, nil, nil, false
		}
		k := string(key)
		if l := f.tx.locks[k]; l != nil {
			conflict = append(conflict, l.holder)
			continue
		}
		var w lock
		switch kind {
		case opSet:
			w.value = value
		case opDelete:
			w.del = true
		case opAdd:
			v, had := f.data[k]
			cur, ok := parseInt(v, had)
			if !ok || cur+delta < 0 {
				cond = true
			}
			w.value = formatInt(cur + delta)
		}
		keys, writes = append(keys, k), append(writes, w)
	}
	switch {
	case conflict != nil:
		return nil, nil, voteResp{vote: voteConflict, holders: conflict}, false
	case cond:
		return nil, nil, voteResp{vote: voteCondition}, false
	}
	return keys, writes, nil, true
}

// commitLocked is the coordinator's part of a transaction whose other
// participants have all prepared: it writes the decision record and, in
// the same step, applies the coordinator's own writes, which so never need
// locks. It checks them as prepare would, and on a conflict or a failed
// condition writes nothing: no decision record means abort. A decision
// already there wins: a retried commit answers yes again without writing
// twice, and one that a resolver beat to it answers voteResolved.
func (f *fsm) commitLocked(r *rbuf) any {
	id, m := r.uvarint(), r.meta()
	forget, parts := r.ids(), r.ints()
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	f.tickLocked(m.now)
	f.forgetLocked(forget)
	defer f.expireLocked()
	if d, ok := f.tx.decisions[id]; ok {
		if d.commit {
			return voteResp{vote: voteYes}
		}
		return voteResp{vote: voteResolved}
	}
	if m.start+m.window < f.tx.clock {
		// Its prepare window closed: a resolver may have taken a lock of
		// its as aborted without writing a record (abortLocked).
		return voteResp{vote: voteResolved}
	}
	keys, writes, vote, ok := f.stageLocked(r, n)
	if !ok {
		return vote
	}
	for i, k := range keys {
		if writes[i].del {
			f.del(k)
		} else {
			f.set(k, writes[i].value)
		}
	}
	f.tx.putDecision(id, decision{commit: true, done: len(parts) == 0, start: m.start, at: f.tx.clock,
		window: m.window, keep: m.keep, parts: parts})
	return voteResp{vote: voteYes}
}

// finishLocked applies (commit) or drops (abort) a transaction's intents and
// releases its locks. Finishing a transaction that holds nothing here is a
// no-op, so a retried or repeated finish is harmless.
func (f *fsm) finishLocked(id uint64, commit bool) {
	for _, k := range f.tx.byTxn[id] {
		l := f.tx.locks[k]
		if l == nil || l.holder.txn != id {
			continue
		}
		if commit {
			if l.del {
				f.del(k)
			} else {
				f.set(k, l.value)
			}
		}
		delete(f.tx.locks, k)
	}
	delete(f.tx.byTxn, id)
}

func (f *fsm) recordSaga(k sagaKey, rec *sagaRecord) {
	f.tx.recordSaga(k, rec)
}

func (s *txnState) recordSaga(k sagaKey, rec *sagaRecord) {
	if old, ok := s.sagaSteps[k]; ok {
		rec.seq = old.seq
	} else {
		s.sagaSeq++
		rec.seq = s.sagaSeq
		s.sagaOrder = append(s.sagaOrder, sagaSlot{key: k, seq: rec.seq})
	}
	s.sagaSteps[k] = rec
	for len(s.sagaSteps) > maxSagaRecords {
		if old := s.sagaOrder[0]; s.live(old) {
			delete(s.sagaSteps, old.key)
		}
		s.sagaOrder = s.sagaOrder[1:]
	}
}

func (s *txnState) live(o sagaSlot) bool {
	rec, ok := s.sagaSteps[o.key]
	return ok && rec.seq == o.seq
}

// sagaForgetLocked drops the records of steps whose sagas ended without a
// doubt: every command of theirs returned, so no copy of one is left to
// apply (a retried copy applies before the retry that succeeded, or never).
func (f *fsm) sagaForgetLocked(r *rbuf) {
	n := r.uvarint()
	for range min(n, uint64(len(r.b))) {
		k := sagaKey{saga: r.uvarint(), step: int(r.uvarint())}
		delete(f.tx.sagaSteps, k)
	}
	// Records past their retention go, oldest first.
	for range maxExpire {
		o := f.tx.sagaOrder
		if len(o) == 0 {
			break
		}
		if f.tx.live(o[0]) {
			rec := f.tx.sagaSteps[o[0].key]
			if rec.until == 0 || rec.until > f.tx.clock {
				break
			}
			delete(f.tx.sagaSteps, o[0].key)
		}
		f.tx.sagaOrder = o[1:]
	}
	// Stale slots go once they outnumber the live ones.
	if o := f.tx.sagaOrder; len(o) > 1024 && len(o) > 2*len(f.tx.sagaSteps) {
		live := make([]sagaSlot, 0, 2*len(f.tx.sagaSteps))
		for _, sl := range o {
			if f.tx.live(sl) {
				live = append(live, sl)
			}
		}
		f.tx.sagaOrder = live
	}
}

// sagaClockLocked reads a saga command's clock and retention, which come
// before its forget list, moves the shard's clock, and returns the clock
// from which the records it writes may go.
func (f *fsm) sagaClockLocked(r *rbuf) int64 {
	now, keep := r.varint(), r.varint()
	if r.bad {
		return 0
	}
	f.tickLocked(now)
	return now + keep
}

// sagaStepLocked applies a saga step once: a replay returns the first
// outcome. A step meets a transaction's lock as a conflict and fails.
func (f *fsm) sagaStepLocked(r *rbuf) any {
	k := sagaKey{saga: r.uvarint(), step: int(r.uvarint())}
	kind, key, value, delta := r.op()
	until := f.sagaClockLocked(r)
	f.sagaForgetLocked(r)
	if r.bad {
		return nil
	}
	if rec, ok := f.tx.sagaSteps[k]; ok {
		switch rec.state {
		case stepApplied:
			return voteResp{vote: voteYes}
		default:
			return voteResp{vote: voteCondition}
		}
	}
	ks := string(key)
	if l := f.tx.locks[ks]; l != nil {
		// Not recorded: the orchestrator compensates, which records it.
		return voteResp{vote: voteConflict, holders: []lockHolder{l.holder}}
	}
	prev, had := f.data[ks]
	rec := &sagaRecord{key: ks, state: stepApplied, kind: kind, delta: delta, prev: prev, hadPrev: had, until: until}
	switch kind {
	case opSet:
		f.set(ks, value)
	case opDelete:
		f.del(ks)
	case opAdd:
		cur, ok := parseInt(prev, had)
		if !ok || cur+delta < 0 {
			f.recordSaga(k, &sagaRecord{state: stepFailed, until: until})
			return voteResp{vote: voteCondition}
		}
		f.set(ks, formatInt(cur+delta))
		rec.prev, rec.hadPrev = nil, false
	}
	f.recordSaga(k, rec)
	return voteResp{vote: voteYes}
}

// sagaUndoLocked compensates a step once. Compensating a step that never
// arrived records it as undone, so that a late arrival is a no-op. It
// answers voteYes when it undid a change (or is a replay of the command
// that did), voteCondition when there was nothing to undo, and
// voteConflict while a transaction locks the key: a compensation waits for
// the lock rather than clobber the intent's base.
func (f *fsm) sagaUndoLocked(r *rbuf) any {
	k := sagaKey{saga: r.uvarint(), step: int(r.uvarint())}
	token := r.uvarint()
	until := f.sagaClockLocked(r)
	f.sagaForgetLocked(r)
	if r.bad {
		return nil
	}
	rec, ok := f.tx.sagaSteps[k]
	if ok && rec.state == stepUndone && rec.undoBy == token {
		return voteResp{vote: voteYes}
	}
	if !ok {
		f.recordSaga(k, &sagaRecord{state: stepUndone, until: until})
		return voteResp{vote: voteCondition}
	}
	if rec.state != stepApplied {
		return voteResp{vote: voteCondition}
	}
	if l := f.tx.locks[rec.key]; l != nil {
		return voteResp{vote: voteConflict, holders: []lockHolder{l.holder}}
	}
	switch rec.kind {
	case opAdd:
		// Adding back what the step added keeps every write made since.
		v, had := f.data[rec.key]
		cur, _ := parseInt(v, had)
		f.set(rec.key, formatInt(cur-rec.delta))
	default:
		if rec.hadPrev {
			f.set(rec.key, rec.prev)
		} else {
			f.del(rec.key)
		}
	}
	f.recordSaga(k, &sagaRecord{state: stepUndone, undoBy: token, until: until})
	return voteResp{vote: voteYes}
}

// Snapshot section for txnState, after the key-value entries (fsm.go):
// lock count, then per lock key, txn, coord, start, del, value; (version
// 4) the shard clock; decision count, then per decision txn and commit,
// and (version 4) done, start, at, window, keep and the participants; saga
// record count, then per record (oldest first) saga, step, key, state,
// kind, delta, hadPrev, prev, (version 3) undoBy, (version 4) until.
func (s *txnState) write(bw *bufio.Writer) {
	var num [binary.MaxVarintLen64]byte
	uv := func(v uint64) { _, _ = bw.Write(binary.AppendUvarint(num[:0], v)) }
	sv := func(v int64) { _, _ = bw.Write(binary.AppendVarint(num[:0], v)) }
	bs := func(p []byte) { uv(uint64(len(p))); _, _ = bw.Write(p) }
	uv(uint64(len(s.locks)))
	for k, l := range s.locks {
		bs([]byte(k))
		uv(l.holder.txn)
		uv(uint64(l.holder.coord))
		sv(l.holder.start)
		_ = bw.WriteByte(boolByte(l.del))
		bs(l.value)
	}
	sv(s.clock)
	uv(uint64(len(s.decisions)))
	for id, d := range s.decisions {
		uv(id)
		_ = bw.WriteByte(boolByte(d.commit))
		_ = bw.WriteByte(boolByte(d.done))
		sv(d.start)
		sv(d.at)
		sv(d.window)
		sv(d.keep)
		uv(uint64(len(d.parts)))
		for _, p := range d.parts {
			uv(uint64(p))
		}
	}
	uv(uint64(len(s.sagaSteps)))
	for _, sl := range s.sagaOrder {
		if !s.live(sl) {
			continue
		}
		k, rec := sl.key, s.sagaSteps[sl.key]
		uv(k.saga)
		uv(uint64(k.step))
		bs([]byte(rec.key))
		_ = bw.WriteByte(byte(rec.state))
		_ = bw.WriteByte(byte(rec.kind))
		sv(rec.delta)
		_ = bw.WriteByte(boolByte(rec.hadPrev))
		bs(rec.prev)
		uv(rec.undoBy)
		sv(rec.until)
	}
}

func readTxnState(r *bufio.Reader, version byte) (txnState, error) {
	s := newTxnState()
	var err error
	uv := func() uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = binary.ReadUvarint(r)
		return v
	}
	sv := func() int64 {
		if err != nil {
			return 0
		}
		var v int64
		v, err = binary.ReadVarint(r)
		return v
	}
	b1 := func() byte {
		if err != nil {
			return 0
		}
		var v byte
		v, err = r.ReadByte()
		return v
	}
	bs := func() []byte {
		n := uv()
		if err != nil {
			return nil
		}
		if n > maxSnapshotField {
			err = fmt.Errorf("field of %d bytes", n)
			return nil
		}
		p := make([]byte, n)
		_, err = io.ReadFull(r, p)
		return p
	}
	for n := uv(); n > 0 && err == nil; n-- {
		k := string(bs())
		l := &lock{holder: lockHolder{txn: uv(), coord: int(uv()), start: sv()}}
		l.del = b1() == 1
		l.value = bs()
		s.locks[k] = l
		s.byTxn[l.holder.txn] = append(s.byTxn[l.holder.txn], k)
	}
	if version >= 4 {
		s.clock = sv()
	}
	for n := uv(); n > 0 && err == nil; n-- {
		id := uv()
		d := decision{commit: b1() == 1}
		if version >= 4 {
			d.done = b1() == 1
			d.start, d.at, d.window, d.keep = sv(), sv(), sv(), sv()
			np := uv()
			if np > 1<<16 {
				err = fmt.Errorf("decision with %d participants", np)
			}
			for ; np > 0 && err == nil; np-- {
				d.parts = append(d.parts, int(uv()))
			}
		}
		// An older record says nothing of its participants: parts nil
		// means every shard, to the recovery that finishes it.
		s.putDecision(id, d)
	}
	for n := uv(); n > 0 && err == nil; n-- {
		k := sagaKey{saga: uv(), step: int(uv())}
		rec := &sagaRecord{key: string(bs())}
		rec.state, rec.kind, rec.delta = stepState(b1()), opKind(b1()), sv()
		rec.hadPrev = b1() == 1
		rec.prev = bs()
		if !rec.hadPrev {
			rec.prev = nil
		}
		if version >= 3 {
			rec.undoBy = uv()
		}
		if version >= 4 {
			rec.until = sv()
		}
		s.recordSaga(k, rec)
	}
	if err != nil {
		return txnState{}, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	return s, nil
}

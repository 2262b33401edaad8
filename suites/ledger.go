package suites

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// leg is one account's share of a transaction: delta added to account i.
type leg struct {
	account int
	delta   int64
}

// pendingTxn is a transaction whose outcome its call could not learn; the
// check asks its decision record.
type pendingTxn struct {
	res  core.TxnResult
	legs []leg
}

// ledger is what a workload's transactions did to its accounts, exactly:
// every account must end at its opening balance plus the legs of the
// transactions that committed. Acknowledged commits are added as they come
// (an atomic add per leg, no allocation); the few of unknown outcome wait
// for the check, which resolves them from the decision records.
type ledger struct {
	name     string // the check's name
	unit     string // what an account is called in the detail: "account", "counter"
	accounts []string
	opening  int64
	// committed is the sum of every account's committed legs, by 2PC;
	// sagas is the sum of the completed sagas' steps: each account's
	// balance is opening + committed + sagas.
	committed, sagas []atomic.Int64
	txns, sagaRuns   atomic.Int64 // transactions and sagas counted in the sums

	mu       sync.Mutex
	pending  []pendingTxn
	doubtful []leg // legs of sagas whose compensation did not finish: their accounts cannot be checked
}

// settleFor is how long a check waits for transactions of unknown outcome
// to settle: past the core's lock timeout (1 s by default), after which
// resolving a transaction's locks decides it.
var settleFor = 3 * time.Second

func newLedger(name, unit string, accounts []string, opening int64) *ledger {
	return &ledger{name: name, unit: unit, accounts: accounts, opening: opening,
		committed: make([]atomic.Int64, len(accounts)), sagas: make([]atomic.Int64, len(accounts))}
}

// txn records what became of a transaction with legs, as Txn returned
// it: committed, aborted for sure (core.ErrAborted: nothing was written),
// or unknown until its decision record says.
func (l *ledger) txn(res core.TxnResult, err error, legs ...leg) {
	switch {
	case err == nil && res.Committed:
		for _, g := range legs {
			l.committed[g.account].Add(g.delta)
		}
		l.txns.Add(1)
	case errors.Is(err, core.ErrAborted):
	case err == nil:
		// Not committed, no error: not a result Txn gives; count it unknown.
		fallthrough
	default:
		l.mu.Lock()
		l.pending = append(l.pending, pendingTxn{res: res, legs: append([]leg(nil), legs...)})
		l.mu.Unlock()
	}
}

// saga records what became of a saga of steps: all applied (nil error),
// or failed and fully compensated (net nothing), or failed with its
// compensation cut short, which leaves its accounts in doubt.
func (l *ledger) saga(res core.SagaResult, err error, steps ...leg) {
	switch {
	case err == nil:
		for _, g := range steps {
			l.sagas[g.account].Add(g.delta)
		}
		l.sagaRuns.Add(1)
	case res.ID == 0 || compensated(err):
		// Nothing ran, or whatever ran was undone (a step whose answer was
		// lost included: its undo records it so that it never applies).
	default:
		l.mu.Lock()
		l.doubtful = append(l.doubtful, steps...)
		l.mu.Unlock()
	}
}

// compensated reports whether a saga's error is its failure cause itself,
// which Saga returns only once every completed step was compensated. When
// a compensation fails, Saga wraps its error around the cause instead, so
// core.ErrSagaFailed is no longer one of the error's direct causes.
func compensated(err error) bool {
	if err == core.ErrSagaFailed {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if e == core.ErrSagaFailed {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return u.Unwrap() == core.ErrSagaFailed
	}
	return false
}

// check resolves leftover locks, learns the outcome of every transaction
// the load could not, and compares every account's balance, read
// linearizably, with its ledger.
func (l *ledger) check(ctx context.Context, db DB, suite string) metrics.Check {
	start := time.Now()
	c := metrics.Check{Name: l.name, Suite: suite, Keys: len(l.accounts)}
	finish := func(v metrics.CheckVerdict, detail string) metrics.Check {
		c.Verdict, c.Detail, c.Seconds = v, detail, time.Since(start).Seconds()
		return c
	}
	l.mu.Lock()
	pending, doubtful := l.pending, l.doubtful
	l.mu.Unlock()
	// A transaction cut short may still have commands in flight, and its
	// locks are resolved only once they expire: ask again for a while.
	var resolvedCommit, resolvedAbort int
	settle := time.NewTimer(settleFor)
	defer settle.Stop()
	for {
		if _, err := db.ResolveLocks(ctx); err != nil {
			return finish(metrics.CheckUnknown, fmt.Sprintf("the transactions' locks could not be resolved: %v", err))
		}
		left := pending[:0:0]
		for _, p := range pending {
			o, err := db.TxnOutcome(ctx, p.res)
			switch {
			case err == nil && o == core.OutcomeCommitted:
				resolvedCommit++
				for _, g := range p.legs {
					l.committed[g.account].Add(g.delta)
				}
				l.txns.Add(1)
			case err == nil && o == core.OutcomeAborted:
				resolvedAbort++
			default:
				left = append(left, p)
			}
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		select {
		case <-settle.C:
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	unresolved := len(pending)
	doubt := make([]bool, len(l.accounts))
	for _, p := range pending {
		for _, g := range p.legs {
			doubt[g.account] = true
		}
	}
	for _, g := range doubtful {
		doubt[g.account] = true
	}
	c.Ops = l.txns.Load() + l.sagaRuns.Load()
	var wrong []string
	checked := 0
	for i, a := range l.accounts {
		v, err := db.Get(ctx, a)
		if errors.Is(err, core.ErrNotFound) {
			v, err = []byte("0"), nil
		}
		if err != nil {
			return finish(metrics.CheckUnknown, fmt.Sprintf("%s %s could not be read: %v", l.unit, a, err))
		}
		got, perr := strconv.ParseInt(string(v), 10, 64)
		want := l.opening + l.committed[i].Load() + l.sagas[i].Load()
		switch {
		case perr != nil:
			wrong = append(wrong, fmt.Sprintf("%s holds %q, not a number", a, v))
		case got < 0:
			wrong = append(wrong, fmt.Sprintf("%s is negative: %d", a, got))
		case doubt[i]:
			continue
		case got != want:
			wrong = append(wrong, fmt.Sprintf("%s is %d, want %d (%+d)", a, got, want, got-want))
		}
		checked++
	}
	tally := fmt.Sprintf("%s transactions committed (%d learned from decision records, %d of them aborted)",
		metrics.FormatCount(float64(l.txns.Load())), resolvedCommit+resolvedAbort, resolvedAbort)
	if n := l.sagaRuns.Load(); n > 0 {
		tally += fmt.Sprintf(" and %s sagas completed", metrics.FormatCount(float64(n)))
	}
	if n := len(wrong); n > 0 {
		more := ""
		if n > 3 {
			more = fmt.Sprintf(" and %d more", n-3)
			wrong = wrong[:3]
		}
		return finish(metrics.CheckViolated, fmt.Sprintf("%d of %d %ss do not match the ledger: %s%s; after %s",
			n, len(l.accounts), l.unit, strings.Join(wrong, "; "), more, tally))
	}
	if unresolved > 0 || len(doubtful) > 0 {
		return finish(metrics.CheckUnknown, fmt.Sprintf("%d transactions of unknown outcome (their decision records are gone) and %d saga steps left half-compensated: %d %ss could not be checked; the other %d match, after %s",
			unresolved, len(doubtful), len(l.accounts)-checked, l.unit, checked, tally))
	}
	return finish(metrics.CheckOK, fmt.Sprintf("every %s matches the ledger, after %s", l.unit, tally))
}

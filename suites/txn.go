package suites

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// txnSuite measures distributed transactions on a bank: money moves
// between accounts on different shards by two-phase commit or by Saga, and
// the total must be conserved.
type txnSuite struct{}

// The txn suite's ops, in the order of Ops.
const (
	opTxn2PC        = iota // a transfer by two-phase commit, end to end
	opTxnPrepare           // its prepare phase: locks and intents on every participant but the coordinator
	opTxnDecide            // its decision record, with the coordinator's own writes
	opTxnCommit            // its commit phase on the other participants
	opTxnSaga              // a transfer by Saga: the steps in order
	opTxnCompensate        // undoing a failed saga's completed steps, in reverse

	// The phases of the decision record's entry (core.TxnResult's
	// DecidePhases), folded into txn.decide's breakdown.
	opDecideBatch // waiting in the coordinator shard's batcher
	opDecideQueue // then as consensus.submit's: queue, append, replicate+commit, apply, line, wire
	opDecideAppend
	opDecideReplicate
	opDecideApply
	opDecideLine
	opDecideWire
)

const (
	bankAccounts        = 200  // accounts the money moves between
	bankOpening         = 1000 // each account's opening balance
	sagaFailProbability = 0.05 // injected failure of a saga's second step, to exercise compensation
)

func (txnSuite) Name() string { return "txn" }

func (txnSuite) Description() string {
	return "Distributed transactions: bank transfers by 2PC and Saga, every account checked against its ledger"
}

func (txnSuite) Ops() []metrics.OpSpec {
	return []metrics.OpSpec{
		{Name: "txn.2pc", Suite: "txn", Primary: true},
		// 2PC's phases, ops of their own as they have always been, and
		// txn.2pc's breakdown too.
		{Name: "txn.prepare", Suite: "txn", PhaseOf: "txn.2pc", Phase: "prepare", Listed: true},
		{Name: "txn.decide", Suite: "txn", PhaseOf: "txn.2pc", Phase: "decide", Listed: true},
		{Name: "txn.commit", Suite: "txn", PhaseOf: "txn.2pc", Phase: "commit", Listed: true},
		{Name: "txn.saga", Suite: "txn", Primary: true},
		{Name: "txn.compensate", Suite: "txn"},
		decidePhase("batch", "batch"),
		decidePhase("queue", "queue"),
		decidePhase("append", "append"),
		decidePhase("replicate", "replicate+commit"),
		decidePhase("apply", "apply"),
		decidePhase("line", "line"),
		decidePhase("wire", "wire"),
	}
}

func decidePhase(op, phase string) metrics.OpSpec {
	return metrics.OpSpec{Name: "txn.decide." + op, Suite: "txn", PhaseOf: "txn.decide", Phase: phase, NoBaseline: true}
}

func (txnSuite) Prepare(ctx context.Context, env Env) (Workload, error) {
	w := &txnWorkload{db: env.DB, seed: env.Seed, bound: countBound{limit: int64(env.Transactions), end: env.End}}
	for i := range bankAccounts {
		w.accounts = append(w.accounts, "bank/"+strconv.Itoa(i))
	}
	w.ledger = newLedger("ledger", "account", w.accounts, bankOpening)
	// Open every account in one go per account: the total is known.
	opening := []byte(strconv.Itoa(bankOpening))
	for _, a := range w.accounts {
		if err := env.DB.Put(ctx, a, opening); err != nil {
			return nil, fmt.Errorf("opening the bank's accounts: %w", err)
		}
	}
	return w, nil
}

type txnWorkload struct {
	db       DB
	accounts []string
	seed     int64
	bound    countBound // ends the suite after so many transactions
	ledger   *ledger    // what every transfer did, to check each account exactly
}

func (w *txnWorkload) Client(id int) Client {
	return &txnClient{w: w, rng: rand.New(rand.NewPCG(uint64(w.seed), uint64(id)+0x7a))}
}

type txnClient struct {
	w   *txnWorkload
	rng *rand.Rand
	n   int
}

// Do moves 1 to 100 between two random accounts, by 2PC and by Saga in
// turn. An abort (a conflict, or an overdraft refused) is counted by kind
// and is no failure of the cluster.
func (c *txnClient) Do(ctx context.Context, rec *metrics.Recorder) {
	if !c.w.bound.take(ctx) {
		return
	}
	from := c.rng.IntN(len(c.w.accounts))
	to := (from + 1 + c.rng.IntN(len(c.w.accounts)-1)) % len(c.w.accounts)
	amount := int64(1 + c.rng.IntN(100))
	debit, credit := core.Add(c.w.accounts[from], -amount), core.Add(c.w.accounts[to], amount)
	legs := [2]leg{{from, -amount}, {to, amount}}
	c.n++
	start := metrics.Now()
	if c.n%2 == 0 {
		res, err := c.w.db.Saga(ctx, []core.SagaStep{{Op: debit}, {Op: credit, FailProbability: sagaFailProbability}})
		c.w.ledger.saga(res, err, legs[:]...)
		var ok bool
		if err != nil && res.Injected && ctx.Err() == nil {
			// The suite's own failure, there to be compensated: counted
			// apart from the cluster's.
			rec.FailErr(opTxnSaga, metrics.ErrInjected, err)
		} else {
			ok = observe(ctx, rec, opTxnSaga, start, err)
		}
		if !ok && res.Compensated > 0 {
			rec.Record(opTxnCompensate, res.Compensation)
		}
		return
	}
	res, err := c.w.db.Txn(ctx, core.Txn{Ops: []core.Op{debit, credit}})
	c.w.ledger.txn(res, err, legs[:]...)
	if observe(ctx, rec, opTxn2PC, start, err) {
		rec.Record(opTxnPrepare, res.Prepare)
		rec.Record(opTxnDecide, res.Decide)
		rec.Record(opTxnCommit, res.Commit)
		rec.Record(opDecideBatch, res.DecidePhases.Batch)
		recordRaftPhases(rec, opDecideQueue, &res.DecidePhases)
	}
}

// Check resolves any lock a cut-short transaction left and proves the
// bank's ledger: every account holds its opening balance plus the
// transfers that committed (acknowledged, or learned from their decision
// records) and the sagas that completed — not only the total, which a
// transfer lost on both legs or applied twice would keep.
func (w *txnWorkload) Check(ctx context.Context, _ string) []metrics.Check {
	return []metrics.Check{w.ledger.check(ctx, w.db, "txn")}
}

package core

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// testHooks are the seams through which the package's tests reach into
// production code. Only export_test.go sets them; production runs with the
// zero value, which changes nothing.
//
// Concurrency: a test sets them before starting the cluster they are for
// (txnStopAfter around one Txn call of its own), and resets them once that
// cluster has closed, so raft's goroutines only ever read them.
type testHooks struct {
	// txnStopAfter makes Txn's coordinator return errTxnStopped after this
	// phase, as if it had died there.
	txnStopAfter txnPhase

	// onUndo is called after each compensation of a saga step.
	onUndo func(saga uint64, step int, undone bool)

	// maxInFlight overrides transportMaxInFlight when positive. Tests set
	// raft's default of 2, under which its pipeline deadlock (see
	// transport.Transport) shows within seconds.
	maxInFlight int

	// pipelineWindow overrides the transport's window of bytes in flight
	// per append pipeline (transport.PipelineMaxBytes) when positive, so
	// that a test can fill it with small values.
	pipelineWindow int64

	// onPipeline is told when replication from r starts (+1) or stops (-1)
	// being pipelined to a peer: the transport's Hooks.PipelineStarted and
	// PipelineEnded.
	onPipeline func(r *replica, delta int)

	// onKill is called when KillLeader has stopped shard's leader on node
	// and before it waits for a successor: a test acts at that moment,
	// which fast failover makes a millisecond or two long.
	onKill func(shard int, node string)
}

// hooks are the package's test hooks; see testHooks.
var hooks testHooks

// txnPhase is a phase of Txn after which testHooks.txnStopAfter stops the
// coordinator.
type txnPhase byte

const (
	phaseNone txnPhase = iota
	phasePrepare
	phaseDecide
)

var errTxnStopped = errors.New("core: transaction coordinator stopped by test hook")

// PipelineStarted implements transport.Hooks, for the tests' count.
func (r *replica) PipelineStarted() {
	if f := hooks.onPipeline; f != nil {
		f(r, 1)
	}
}

// PipelineEnded implements transport.Hooks, for the tests' count.
func (r *replica) PipelineEnded() {
	if f := hooks.onPipeline; f != nil {
		f(r, -1)
	}
}

// LinkRTT implements transport.Hooks: the round trip the simulated network
// is set to have to target.
func (r *replica) LinkRTT(target raft.ServerAddress) (time.Duration, bool) {
	return r.stream.RoundTrip(target)
}

package core

import (
	"encoding/binary"
	"sync"
	"time"
)

// Group commit for transaction and saga commands.
//
// Every Raft log entry costs the same bookkeeping whatever it holds: a
// future, a trip through raft's channels, its own encoding in each
// AppendEntries and a slot in every replica's log store. A shard's batcher
// therefore combines the transaction commands that callers send it at the
// same time into one entry, which the state machine applies in order, one
// response per command. Callers take turns as senders: while batchInFlight
// entries are on their way through Raft, new commands gather in a pending
// batch, and the first one that is done lets the oldest pending batch go.
// An idle shard sends a command at once, on its own, so no timer ever adds
// latency; the busier the shard, the fuller its entries.

const (
	// batchInFlight is how many entries a shard's batcher has in Raft at
	// once. With one, everything that arrives during a round goes in the
	// next entry; more make smaller entries for about the same latency,
	// since raft replicates to each follower one AppendEntries at a time
	// (transportMaxInFlight), and measured more CPU per command.
	batchInFlight = 1
	// maxBatchCmds and maxBatchBytes bound one entry, so that a batch stays
	// well inside one AppendEntries and a follower applies it in one go.
	maxBatchCmds  = 256
	maxBatchBytes = 256 << 10
)

// batcher is a shard's group commit. It is safe for concurrent use.
type batcher struct {
	mu       sync.Mutex
	inFlight int
	queue    []*batch // pending, oldest first; only the last one takes more
}

// batch is one pending or sent log entry's worth of commands. Until done
// is closed only its sender touches resps and err.
type batch struct {
	cmds  [][]byte
	size  int
	timed bool  // a member wants its phases: the sender times the entry into ph
	sent  int64 // nanotime when the sender took the batch out, if timed
	ph    Phases
	start chan struct{} // closed when the batch may be sent
	done  chan struct{} // closed once resps or err are set
	resps []any
	err   error
}

// do applies cmd, alone or in one entry with the commands other callers
// hand the shard at the same time, and returns cmd's own response. send
// replicates one entry through the shard's leader, once, adding the entry's
// phases to its ph when that is not nil; an error it returns is every
// command's error. do makes one attempt: retrying is the caller's business.
//
// When ph is not nil, do adds cmd's phases to it: its wait for a batch to
// go (Batch) and the phases of the entry that carried it.
func (b *batcher) do(cmd []byte, ph *Phases, send func(entry []byte, ph *Phases) (any, error)) (any, error) {
	b.mu.Lock()
	if b.inFlight < batchInFlight && len(b.queue) == 0 {
		b.inFlight++
		b.mu.Unlock()
		resp, err := send(cmd, ph)
		b.release()
		return resp, err
	}
	arrived := ph.clock()
	var bt *batch
	owner := false
	if n := len(b.queue); n > 0 {
		last := b.queue[n-1]
		if len(last.cmds) < maxBatchCmds && last.size+len(cmd) <= maxBatchBytes {
			bt = last
		}
	}
	if bt == nil {
		bt = &batch{start: make(chan struct{}), done: make(chan struct{})}
		b.queue = append(b.queue, bt)
		owner = true
	}
	i := len(bt.cmds)
	bt.cmds = append(bt.cmds, cmd)
	bt.timed = bt.timed || ph != nil
	bt.size += len(cmd) + binary.MaxVarintLen32
	b.mu.Unlock()

	if owner {
		// The first caller in a batch sends it for everyone once a slot
		// frees; nothing else can, so it does so whatever its own deadline.
		<-bt.start
		bt.flush(send)
		b.release()
	} else {
		<-bt.done
	}
	if ph != nil && bt.timed {
		ph.Batch += time.Duration(bt.sent - arrived)
		ph.Add(&bt.ph)
	}
	if bt.err != nil {
		return nil, bt.err
	}
	return bt.resps[i], nil
}

// flush sends the batch and publishes the outcome. The batch is closed to
// new commands: it left the queue before start was closed.
func (bt *batch) flush(send func([]byte, *Phases) (any, error)) {
	defer close(bt.done)
	var ph *Phases
	if bt.timed {
		// Members joined before the batch left the queue, which happened
		// before start was closed: timed is settled.
		bt.sent = nanotime()
		ph = &bt.ph
	}
	if len(bt.cmds) == 1 {
		var resp any
		resp, bt.err = send(bt.cmds[0], ph)
		bt.resps = []any{resp}
		return
	}
	resp, err := send(encodeBatch(bt.cmds, bt.size), ph)
	if err != nil {
		bt.err = err
		return
	}
	resps, ok := resp.([]any)
	if !ok || len(resps) != len(bt.cmds) {
		bt.err = errBadCommand
		return
	}
	bt.resps = resps
}

// release gives up a slot, and hands it to the oldest pending batch.
func (b *batcher) release() {
	b.mu.Lock()
	b.inFlight--
	var next *batch
	if len(b.queue) > 0 && b.inFlight < batchInFlight {
		next = b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.inFlight++
	}
	b.mu.Unlock()
	if next != nil {
		close(next.start)
	}
}

func encodeBatch(cmds [][]byte, size int) []byte {
	b := make(wbuf, 0, 1+binary.MaxVarintLen32+size)
	b.byte1(opTxnBatch)
	b.uvarint(uint64(len(cmds)))
	for _, c := range cmds {
		b.bytes(c)
	}
	return b
}

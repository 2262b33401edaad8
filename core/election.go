package core

import (
	"sync"
	"time"
)

// electionLogSize is how many elections the cluster remembers. A poller
// reading once per tick loses none unless more than this many happen in
// one tick.
const electionLogSize = 1024

// Election is one shard getting a new leader, as raft's observers report it.
type Election struct {
	Shard int
	From  string // node id of the previous leader, "" for the shard's first
	To    string // node id of the new leader

	// Took is the time from the loss of the previous leader to this
	// election: from the moment a control (KillLeader, CrashNode,
	// Partition, TransferLeader, the start-up balancing) acted on it, or
	// else from the first report of no leader by the old leader itself or
	// by a replica once the old leader had stopped leading. For a shard's
	// first election it is the time since the shard started. Zero when a
	// leader changed with no loss seen.
	Took time.Duration

	At   time.Time // when the new leader took over
	Term uint64    // the new leader's term
}

// electionLog is a ring buffer of the latest elections, numbered from 0 in
// the order they were recorded.
type electionLog struct {
	mu   sync.Mutex
	buf  [electionLogSize]Election
	next uint64 // sequence number of the next election recorded
}

func newElectionLog() *electionLog { return &electionLog{} }

func (l *electionLog) add(e Election) {
	l.mu.Lock()
	l.buf[l.next%electionLogSize] = e
	l.next++
	l.mu.Unlock()
}

// Elections returns the elections recorded since sequence number since, in
// order, and the number to pass next time. Pass 0 the first time. When more
// than the buffer holds happened since, the oldest are gone and events
// starts with the oldest kept. It costs nothing while no one calls it: the
// observers record elections as they happen, off the client path.
func (c *Cluster) Elections(since uint64) (events []Election, next uint64) {
	l := c.elections
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next > electionLogSize {
		since = max(since, l.next-electionLogSize)
	}
	for i := since; i < l.next; i++ {
		events = append(events, l.buf[i%electionLogSize])
	}
	return events, l.next
}

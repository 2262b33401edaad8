package core

import (
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Fast failover: a follower that sees its leader's connections close checks
// on the leader as soon as the heartbeat timeout has run out, rather than at
// raft's next random tick.
//
// hashicorp/raft's follower wakes every HeartbeatTimeout to 2×HeartbeatTimeout,
// at random, and stands for election when it has heard nothing for a
// HeartbeatTimeout. So after a leader dies a follower notices 1 to 3
// timeouts after its last contact; and a follower that still knows a leader
// refuses to vote, so the new leader comes at about the later of the two
// followers' wake-ups: 150 ms at p99 with 50 ms timeouts.
//
// A crashed process's sockets are closed by its kernel, which its peers see
// at once as EOF, a reset or a broken pipe on the connections it had opened
// to them (netsim's Layer tells it through OnPeerGone: peerClosed).
// A follower that sees that schedules a check of its own for when the
// heartbeat timeout, counted from its last contact, has run out; if by then
// it has still heard nothing from its leader it has raft run its heartbeat
// check at once (nudge). Raft's own rule still decides: nothing heard for a
// HeartbeatTimeout. A false alarm (a leader closing a spare connection)
// costs a timer, as the leader's heartbeats keep coming.
//
// The followers of a shard check one stagger apart (a fifth of the heartbeat
// timeout), in the order of their node ids, leaving the leader out; checking
// together, they would split the vote. The first to check drops the dead
// leader and stands, and the next one refuses it its pre-vote, as it still
// knows a leader. When the next checks in turn it stands, and wins if its
// log is at least as long: the first, now without a leader, grants it. If
// its log is shorter, the first refuses it; and raft's own timer may make
// any of them stand before its check. So a candidate refused a pre-vote
// soon after such news asks again, half a stagger after each follower's
// check (RetryPreVote, which the transport asks), when one more of them
// no longer knows a leader. A pre-vote changes nothing on the voter, so
// asking again is safe; a voter that still hears from a live leader keeps
// refusing. Vote and pre-vote RPCs that fail are also tried once more on a
// fresh connection (core/internal/transport), as a restarted peer's pooled
// connections are dead.
//
// Under load a follower may still be working through appends the leader
// sent before it died; each counts as contact, as it does for raft, and
// moves that follower's check later.
//
// A partition closes nothing in a real network, so it cuts connections
// without the news (netsim's Network.Isolate), and raft's timers alone
// find a partitioned leader gone. RabbitMQ's Ra does much the same with Erlang's
// process monitors.

// failoverStagger divides the heartbeat timeout into the gap between the
// checks of a shard's followers: 10 ms at 50 ms, far more than a pre-vote's
// round trip on loopback.
const failoverStagger = 5

// failover is a replica's fast-failover state.
type failover struct {
	mu      sync.Mutex
	timer   *time.Timer // the pending check; nil when none
	base    time.Time   // the first follower's check after the latest news: last contact + heartbeat timeout
	stopped bool
	done    chan struct{} // made by watchPeers once raft runs, nil until then; closed by stopFailover
}

// cancelLocked stops the pending check, if any. f.mu must be held.
func (f *failover) cancelLocked() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}

// watchPeers turns on fast failover: from now on the news from the
// replica's stream layer (peerClosed) and transport (RetryPreVote) counts.
// Called once raft runs; until then r.raft may not be set, and both take
// no notice of anything.
func (r *replica) watchPeers() {
	r.failover.mu.Lock()
	r.failover.done = make(chan struct{})
	r.failover.mu.Unlock()
}

// watching reports whether watchPeers has run. Seeing it under the lock
// also makes the raft that watchPeers' caller set visible to the caller.
func (f *failover) watching() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done != nil
}

// stagger is the gap between followers' checks.
func (r *replica) stagger() time.Duration {
	return r.raft.ReloadableConfig().HeartbeatTimeout / failoverStagger
}

// peerClosed runs when a peer closed a connection it had opened to this
// replica (the stream layer's OnPeerGone). If this replica follows a
// leader, it schedules checkLeader for when its heartbeat timeout, counted
// from its last contact with the leader, runs out, plus its place in the
// stagger. A check already pending is moved, as the last contact may have
// moved since.
func (r *replica) peerClosed() {
	if r.stopped.Load() || !r.failover.watching() || r.raft.State() != raft.Follower {
		return
	}
	_, leader := r.raft.LeaderWithID()
	if leader == "" {
		// No leader known: raft's own election is under way.
		return
	}
	last := r.raft.LastContact()
	base := last.Add(r.raft.ReloadableConfig().HeartbeatTimeout)
	due := base.Add(time.Duration(r.failoverRank(string(leader))) * r.stagger())
	r.failover.mu.Lock()
	defer r.failover.mu.Unlock()
	if r.failover.stopped {
		return
	}
	r.failover.base = base
	r.failover.cancelLocked()
	var t *time.Timer
	t = time.AfterFunc(time.Until(due), func() {
		r.failover.mu.Lock()
		ours := r.failover.timer == t && !r.failover.stopped
		if ours {
			r.failover.timer = nil
		}
		r.failover.mu.Unlock()
		if ours {
			r.checkLeader(last)
		}
	})
	r.failover.timer = t
}

// failoverRank is this replica's place among its shard's replicas other
// than leader, in node id order. Every follower works it out alike from the
// shard's placement, so each has a place of its own.
func (r *replica) failoverRank(leader string) int {
	var ids []string
	for _, st := range r.seat.shard.seats() {
		if st.node.id != leader {
			ids = append(ids, st.node.id)
		}
	}
	slices.Sort(ids)
	return max(slices.Index(ids, r.node.id), 0)
}

// checkLeader has raft check on its leader now, unless this replica has
// heard from a leader since last or no longer follows.
func (r *replica) checkLeader(last time.Time) {
	if r.stopped.Load() || r.raft.State() != raft.Follower || r.raft.LastContact().After(last) {
		return
	}
	r.nudge()
}

// nudge makes a follower's raft run its heartbeat check at once. raft has no
// call for that, but ReloadConfig does it when the heartbeat timeout
// shrinks ("on follower, update current timer to use the shorter new
// value": the timer fires at once). So the timeout is set a nanosecond
// longer, then back: the second reload shrinks it, and the check runs with
// the timeouts as configured. TestKillLeaderFailsOverFast holds raft to it.
func (r *replica) nudge() {
	r.failover.mu.Lock()
	defer r.failover.mu.Unlock()
	if r.failover.stopped {
		return
	}
	// The timeouts in force, which the network's shaping may have changed
	// since the replica started, and which must not change until restored.
	r.confMu.Lock()
	defer r.confMu.Unlock()
	was := r.raft.ReloadableConfig()
	longer := was
	longer.HeartbeatTimeout += time.Nanosecond
	// raft wants the election timeout no shorter than the heartbeat's.
	longer.ElectionTimeout = max(longer.ElectionTimeout, longer.HeartbeatTimeout)
	if err := r.raft.ReloadConfig(longer); err != nil {
		r.logger.Warn("fast failover: reload config", "error", err)
		return
	}
	if err := r.raft.ReloadConfig(was); err != nil {
		r.logger.Error("fast failover: restore raft timeouts", "error", err)
	}
}

// RetryPreVote implements transport.Hooks: the transport asks it after a
// peer refused this replica's pre-vote. Within two heartbeat timeouts of the first follower's
// check after news of a closed connection, while this replica stands, it
// waits until the next half-way point between followers' checks
// (base + (k + ½) staggers) and returns true; otherwise, or once the
// replica stops, it returns false at once.
func (r *replica) RetryPreVote() bool {
	r.failover.mu.Lock()
	base, stopped, done := r.failover.base, r.failover.stopped, r.failover.done
	r.failover.mu.Unlock()
	if stopped || done == nil || base.IsZero() || r.raft.State() != raft.Candidate {
		return false
	}
	s := r.stagger()
	end := base.Add(2 * r.raft.ReloadableConfig().HeartbeatTimeout)
	next := base.Add(s / 2)
	if now := time.Now(); next.Before(now) {
		next = next.Add((now.Sub(next)/s + 1) * s)
	}
	if next.After(end) {
		return false
	}
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	select {
	case <-t.C:
		return r.raft.State() == raft.Candidate
	case <-done:
		return false
	}
}

// stopFailover cancels a pending check and a pre-vote retry's wait; stop
// calls it.
func (r *replica) stopFailover() {
	r.failover.mu.Lock()
	defer r.failover.mu.Unlock()
	if r.failover.stopped {
		return
	}
	r.failover.stopped = true
	r.failover.cancelLocked()
	if r.failover.done != nil {
		close(r.failover.done)
	}
}

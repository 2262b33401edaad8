package core

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/raft"
)

// Fast failover: a follower that sees its leader's connections close, and
// finds nothing listening any more at the leader's address, stands for
// election at once, rather than a heartbeat timeout after its last contact.
//
// hashicorp/raft's follower wakes every HeartbeatTimeout to 2×HeartbeatTimeout,
// at random, and stands for election when it has heard nothing for a
// HeartbeatTimeout. So after a leader dies a follower notices 1 to 3
// timeouts after its last contact; and a follower that still knows a leader
// refuses to vote, so the new leader comes at about the later of the two
// followers' wake-ups: 150 ms at p99 with 50 ms timeouts. The timeouts also
// grow with the load (timeouts.go): 263 ms for the seed on 2 cores, which
// its consensus suite, killing a leader every 2 s, paid in full each time.
//
// A crashed process's sockets are closed by its kernel, which its peers see
// at once as EOF, a reset or a broken pipe on the connections it had opened
// to them (netsim's Layer tells it through OnPeerGone: peerClosed). That
// alone does not say the leader is gone: a live leader closes a spare
// pooled connection, too. So a follower that sees it dials the leader's raft
// address (leaderGone). A refused dial means no replica listens there any
// more: a crashed or stopped replica's listener closes with its
// connections. Then the follower stands now (stand: raft's last contact is
// moved back a heartbeat timeout, and raft's own check, run at once, finds it
// run out). A dial that connects, or fails any other way (a partition),
// leaves the check to raft's rule as before: once the heartbeat timeout,
// counted from the last contact, has run out, if it has still heard nothing
// from its leader it has raft run its heartbeat check at once (nudge). A
// false alarm so costs a dial and a timer, and never makes a follower stand
// while its leader runs.
//
// The followers of a shard check one stagger apart (a fifth of the heartbeat
// timeout), in the order of their node ids, leaving the leader out; checking
// together, they would split the vote. The first to check drops the dead
// leader and stands, and the next one refuses it its pre-vote, as it still
// knows a leader. When the next checks in turn it stands, and wins if its
// log is at least as long: the first, now without a leader, grants it. If
// its log is shorter, the first refuses it; and raft's own timer may make
// any of them stand before its check. So a candidate refused a pre-vote
// soon after such news asks again, half a stagger after a follower's check
// (RetryPreVote, which the transport asks), once it has itself refused the
// other's pre-vote since it stood: its log is then the longer. Once it has
// granted the other's, it does not ask again, as the other is on its way to
// win and a crossing request could split the vote; while it has answered
// none, it waits for the next point. A pre-vote changes nothing on the voter, so
// asking again is safe; a voter that still hears from a live leader keeps
// refusing. Vote and pre-vote RPCs that fail are also tried once more on a
// fresh connection (core/internal/transport), as a restarted peer's pooled
// connections are dead. So a crashed leader's successor wins about a stagger
// after the crash, a stagger and a half when the second follower's log is
// behind: 53 to 80 ms for the seed on 2 cores, where raft's timers took 314.
// Before the retry waited for an answer to go by, a machine so short of
// CPU that the second follower's pre-vote round took longer than half a
// stagger saw the first one's retry cross it (2 kills in 40 of the seed's,
// phantom getting 40-55% of the machine): both asked for votes in the same
// term, split them, and raft's randomised election timeout settled it.
//
// Under load a follower may still be working through appends the leader
// sent before it died; each counts as contact, as it does for raft, and
// would make a follower that stood follow the dead leader again. So before
// it stands a follower has its transport refuse what the gone leader sent
// (fence), for as long as a pre-vote retry would wait, and one that stood
// checks again shortly after, for an append that was already on its way
// into raft. The first news of a closed connection counts: a busy
// follower's connections from a dead leader report it one by one, the
// last only once raft has answered what they carried. On raft's timers alone such appends moved the follower's check
// later instead.
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
	mu    sync.Mutex
	timer *time.Timer // the pending check; nil when none
	// probing is the leader address that the pending check will dial
	// (checkLeader), "" when the pending check is raft's rule's.
	probing raft.ServerAddress
	// stood is when this replica last stood because its leader was gone
	// (checkLeader); zero if never.
	stood   time.Time
	base    time.Time // the first follower's check after the latest news: last contact + heartbeat timeout, or the news when the leader is gone
	stopped bool
	done    chan struct{} // made by watchPeers once raft runs, nil until then; closed by stopFailover
}

// cancelLocked stops the pending check, if any. f.mu must be held.
func (f *failover) cancelLocked() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.probing = ""
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
// leader, it schedules a check of its leader at its place in the stagger
// (checkLeader): at once for the first follower, a stagger later for the
// next. A check already pending is replaced, as the last contact may have
// moved since.
func (r *replica) peerClosed() {
	if r.stopped.Load() || !r.failover.watching() || r.raft.State() != raft.Follower {
		return
	}
	addr, leader := r.raft.LeaderWithID()
	if leader == "" {
		// No leader known: raft's own election is under way.
		return
	}
	now := time.Now()
	last := r.raft.LastContact()
	hb := r.raft.ReloadableConfig().HeartbeatTimeout
	offset := time.Duration(r.failoverRank(string(leader))) * r.stagger()
	r.failover.mu.Lock()
	defer r.failover.mu.Unlock()
	if r.failover.stopped {
		return
	}
	if r.failover.timer != nil && r.failover.probing == addr {
		// A leader's connections close one by one, the last ones only
		// once raft has answered what they carried; the first news
		// counts, or a busy follower would keep putting its check off.
		return
	}
	r.failover.base = last.Add(hb)
	r.schedCheckLocked(now.Add(offset), addr, func() { r.checkLeader(addr, now, last, offset) })
}

// schedCheckLocked replaces the pending check with check, run at due;
// probing is the leader address check dials, if any. r.failover.mu must be
// held.
func (r *replica) schedCheckLocked(due time.Time, probing raft.ServerAddress, check func()) {
	r.failover.cancelLocked()
	r.failover.probing = probing
	var t *time.Timer
	t = time.AfterFunc(time.Until(due), func() {
		r.failover.mu.Lock()
		ours := r.failover.timer == t && !r.failover.stopped
		if ours {
			r.failover.timer = nil
			r.failover.probing = ""
		}
		r.failover.mu.Unlock()
		if ours {
			check()
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

// checkLeader runs at this replica's place in the stagger after news at
// time news of a closed connection, while it followed the leader at addr
// and had last heard from a leader at last. If the leader is gone for sure
// (leaderGone) and is still the one this replica follows, it has raft
// stand now (stand). Otherwise it has raft check on the leader once the
// heartbeat timeout, counted from last, has run out, plus the same offset;
// raft's own rule then decides, unless it has heard from a leader since.
func (r *replica) checkLeader(addr raft.ServerAddress, news, last time.Time, offset time.Duration) {
	if r.stopped.Load() || r.raft.State() != raft.Follower {
		return
	}
	if cur, _ := r.raft.LeaderWithID(); cur == addr && r.leaderGone(addr) {
		r.failover.mu.Lock()
		if r.failover.stopped {
			r.failover.mu.Unlock()
			return
		}
		// Every follower saw the news within a round trip of the others:
		// the retries of a refused pre-vote count their stagger from it.
		r.failover.base = news
		r.failover.stood = time.Now()
		// An append the gone leader sent may have been on its way into
		// raft as the fence went up, and make raft follow it again: the
		// follower checks again shortly, for as long as a pre-vote retry
		// would wait.
		if again := time.Now().Add(max(r.stagger()/5, time.Millisecond)); again.Before(news.Add(2 * r.raft.ReloadableConfig().HeartbeatTimeout)) {
			r.schedCheckLocked(again, addr, func() { r.checkLeader(addr, news, last, offset) })
		}
		r.failover.mu.Unlock()
		r.logger.Info("fast failover: the leader's connections closed and its address refuses dials; standing", "leader", addr)
		r.fence(addr, news.Add(2*r.raft.ReloadableConfig().HeartbeatTimeout))
		r.stand()
		return
	}
	due := last.Add(r.raft.ReloadableConfig().HeartbeatTimeout + offset)
	r.failover.mu.Lock()
	defer r.failover.mu.Unlock()
	if r.failover.stopped {
		return
	}
	r.schedCheckLocked(due, "", func() {
		if r.stopped.Load() || r.raft.State() != raft.Follower || r.raft.LastContact().After(last) {
			return
		}
		r.nudge()
	})
}

// leaderGone reports whether nothing listens any more at addr, the
// leader's raft address: a dial there is refused (ECONNREFUSED). Each
// replica listens on a port of its own for as long as it runs, and a
// crashed or stopped one's kernel closes its listener along with its
// connections, so a refusal means that replica no longer runs, and no
// other can take its place at that address before the shard has a new
// leader (a killed replica restarts only after its successor won). A live
// leader accepts the dial however busy it is (the kernel completes the
// handshake), and a partition (netsim) refuses with an error of its own,
// so neither is taken for gone: raft's timers alone find a partitioned
// leader gone, as before.
func (r *replica) leaderGone(addr raft.ServerAddress) bool {
	c, err := r.stream.Dial(addr, leaderProbeTimeout)
	if err == nil {
		_ = c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// fence has the replica's transport refuse, until until, what the gone
// leader at addr sent before it died and is still on its way: each append
// or heartbeat raft took from it would count as contact and make raft
// follow it again, undoing stand. Under load a follower may have several
// (a pipeline's, the heartbeat connection's); refusing them is as if the
// network had lost them, which raft tolerates: the follower with the
// longer log still wins.
func (r *replica) fence(addr raft.ServerAddress, until time.Time) {
	if f, ok := r.trans.Inner.(interface {
		Fence(raft.ServerAddress, time.Time)
	}); ok {
		f.Fence(addr, until)
	}
}

// leaderProbeTimeout bounds leaderGone's dial: on loopback a refusal comes
// at once, and a dial that takes longer has met something alive.
const leaderProbeTimeout = 50 * time.Millisecond

// stand makes this follower stand for election now: it moves raft's last
// contact back to just over a heartbeat timeout ago (if it is later), and
// has raft run its heartbeat check (nudge), which then finds the heartbeat
// timeout run out, as it would a little later on its own. It does not ask
// whether a new leader has been heard from since checkLeader looked: raft's
// pre-vote keeps such a late stand from costing the new leader its term,
// as the other followers refuse it while they hear from that leader.
// Raft has no call to drop a leader it knows is gone; raftContact finds
// where it keeps the time of its last contact.
func (r *replica) stand() {
	mu, lastContact, err := raftContact(r.raft)
	if err != nil {
		r.logger.Warn("fast failover", "error", err)
		r.nudge() // the timers decide
		return
	}
	hb := r.raft.ReloadableConfig().HeartbeatTimeout
	mu.Lock()
	if old := time.Now().Add(-hb - time.Millisecond); lastContact.After(old) {
		*lastContact = old
	}
	mu.Unlock()
	r.nudge()
}

// errNoRaftContact means raft no longer keeps its last contact where
// raftContact looks for it.
var errNoRaftContact = errors.New("core: raft's last contact not found; a follower waits out its heartbeat timeout after its leader crashed")

// raftContact returns where a running raft keeps the time it last heard
// from a leader, and the lock that guards it: the unexported fields
// lastContact (time.Time) and lastContactLock (sync.RWMutex), which
// LastContact reads and the follower's heartbeat check compares with its
// heartbeat timeout (hashicorp/raft v1.8.0, api.go and raft.go).
// TestRaftContactIsSettable fails if a raft upgrade moves them.
func raftContact(r *raft.Raft) (*sync.RWMutex, *time.Time, error) {
	v := reflect.ValueOf(r).Elem()
	t, l := v.FieldByName("lastContact"), v.FieldByName("lastContactLock")
	if !t.IsValid() || !l.IsValid() || t.Type() != reflect.TypeFor[time.Time]() || l.Type() != reflect.TypeFor[sync.RWMutex]() {
		return nil, nil, errNoRaftContact
	}
	return (*sync.RWMutex)(unsafe.Pointer(l.UnsafeAddr())), (*time.Time)(unsafe.Pointer(t.UnsafeAddr())), nil
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
// peer refused this replica's pre-vote. Within two heartbeat timeouts of the
// first follower's check after news of a closed connection, while this
// replica stands, it waits until the next half-way point between
// followers' checks (base + (k + ½) staggers), and decides by the pre-votes
// this replica answered since it stood (preVotesSince): if it granted one,
// the other candidate is on its way to win, and asking again could only
// split the vote, so it returns false; if it refused one, its log is the
// longer, and it returns true; if it answered none, the other has not
// stood yet, and it waits for the next point. Past the window, or once the
// replica stops, it returns false: raft's election timeout decides.
func (r *replica) RetryPreVote() bool {
	r.failover.mu.Lock()
	base, stood, stopped, done := r.failover.base, r.failover.stood, r.failover.stopped, r.failover.done
	r.failover.mu.Unlock()
	if stopped || done == nil || base.IsZero() || r.raft.State() != raft.Candidate {
		return false
	}
	since := base
	if stood.After(since) {
		since = stood
	}
	s := r.stagger()
	end := base.Add(2 * r.raft.ReloadableConfig().HeartbeatTimeout)
	for {
		next := base.Add(s / 2)
		if now := time.Now(); next.Before(now) {
			next = next.Add((now.Sub(next)/s + 1) * s)
		}
		if next.After(end) {
			return false
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return false
		}
		if r.raft.State() != raft.Candidate {
			return false
		}
		granted, refused, ok := r.preVotesSince(since)
		switch {
		case !ok:
			return true // nothing to go by: ask again, as raft would
		case granted:
			return false
		case refused:
			return true
		}
	}
}

// preVotesSince reports whether this replica granted, or refused, a peer's
// pre-vote since t; ok is false when its transport does not tell.
func (r *replica) preVotesSince(t time.Time) (granted, refused, ok bool) {
	a, isWire := r.trans.Inner.(interface {
		PreVotesAnswered() (granted, refused time.Time)
	})
	if !isWire {
		return false, false, false
	}
	g, rf := a.PreVotesAnswered()
	return g.After(t), rf.After(t), true
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

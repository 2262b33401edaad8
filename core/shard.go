package core

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// replicationFactor is how many replicas a shard has when there are enough
// nodes: three survives one crash, which is what the fault controls exercise.
const replicationFactor = 3

// ReplicationFactor is how many replicas each shard has in a cluster of
// nodes nodes: replicationFactor, or every node when there are fewer.
// suites sizes a run's memory with it.
func ReplicationFactor(nodes int) int { return min(replicationFactor, nodes) }

// shard is one Raft group and the seats of its replicas.
type shard struct {
	id int

	// seatList holds the shard's seats, the preferred leader's first. It is
	// copy-on-write: readers load it without a lock, and membership changes
	// (which hold Cluster.mu) store a new slice.
	seatList atomic.Pointer[[]*seat]

	// leader is the replica last seen leading: a hint that saves a scan of
	// the replicas on every call, checked before each use.
	leader atomic.Pointer[replica]

	// batch combines the transaction commands sent to the shard at the
	// same time into one log entry (batch.go).
	batch batcher

	leaderChanges atomic.Uint64
	elections     *electionLog

	// onLeader, set on a node host's shards only, hears every leader
	// change their replicas see, for the controller (nodehost.go).
	onLeader func(leader string, term uint64)

	// fault is the shard's fault slot, a semaphore of one: KillLeader and
	// TransferLeader hold it while they act, so that they take turns (see
	// faults.go).
	fault chan struct{}

	// mu guards the election bookkeeping below, which observe updates from
	// raft's goroutines as leaders come and go.
	mu         sync.Mutex
	lastLeader *replica  // the replica that won the latest election, nil before the first
	lostAt     time.Time // when the shard was last seen to lose its leader, zero while it has one
}

// placeReplicas picks the nodes of every shard's replicas. Shard s's first
// replica, the one leadership is moved to after start, goes on node s mod N,
// so no node leads more than ceil(S/N) shards. Each further replica goes on
// the node hosting the fewest replicas so far, the nearest after the first
// on ties, so every node hosts S×RF/N replicas give or take one. With one
// shard, its replicas are on n1..nRF.
func placeReplicas(shards int, nodes []*node) [][]*node {
	rf := ReplicationFactor(len(nodes))
	// load counts each node's replicas, the first replicas of all shards
	// counted up front since their places are fixed.
	load := make([]int, len(nodes))
	for s := range shards {
		load[s%len(nodes)]++
	}
	placed := make([][]*node, shards)
	for s := range placed {
		first := s % len(nodes)
		placed[s] = append(make([]*node, 0, rf), nodes[first])
		for len(placed[s]) < rf {
			best := -1
			for d := 1; d < len(nodes); d++ {
				i := (first + d) % len(nodes)
				if slices.Contains(placed[s], nodes[i]) {
					continue
				}
				if best < 0 || load[i] < load[best] {
					best = i
				}
			}
			placed[s] = append(placed[s], nodes[best])
			load[best]++
		}
	}
	return placed
}

// newShard makes a shard's seats, each with its stores and a listener on a
// fresh address (Config.Links), and starts their replicas. On error it returns what
// it made, for the caller to stop.
func newShard(id int, nodes []*node, nw *netsim.Network, el *electionLog, cfg Config, logger hclog.Logger) (*shard, error) {
	s := &shard{id: id, elections: el, lostAt: time.Now(), fault: make(chan struct{}, 1)}
	for _, n := range nodes {
		st, err := newSeat(s, n, nw, cfg, logger)
		if err != nil {
			return s, err
		}
		s.addSeat(st)
		n.addSeat(st)
	}
	return s, nil
}

// newSeat makes a seat of shard s on node n, with empty stores and a
// listener on a fresh address (Config.Links), and starts its replica. The caller adds
// the seat to the shard and the node. A replica that joins a running group
// starts empty and learns the group's configuration from its leader.
func newSeat(s *shard, n *node, nw *netsim.Network, cfg Config, logger hclog.Logger) (*seat, error) {
	if n.remote {
		return newRemoteSeat(s, n, cfg)
	}
	stream, err := netsim.Listen(cfg.freshAddr(), nw, n.index)
	if err != nil {
		return nil, err
	}
	st := &seat{shard: s, node: n, addr: stream.Address()}
	if err := st.initStorage(cfg); err != nil {
		_ = stream.Close()
		return nil, err
	}
	if _, err := startReplica(st, stream, cfg, logger); err != nil {
		_ = stream.Close()
		return nil, err
	}
	return st, nil
}

// bootstrap gives every replica the same configuration, which raft allows,
// so that the group does not depend on one of them being up first.
func (s *shard) bootstrap() error {
	seats := s.seats()
	servers := make([]raft.Server, len(seats))
	for i, st := range seats {
		servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(st.node.id), Address: st.addr}
	}
	for _, st := range seats {
		err := st.replica().bootstrap(servers)
		// A replica bootstrapped first may already have won an election
		// and replicated to this one (a busy machine can take longer than
		// an election timeout between two bootstraps): it then holds the
		// same configuration, from the leader, and refuses a second one.
		if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("core: bootstrap shard %d on %s: %w", s.id, st.node.id, err)
		}
	}
	return nil
}

// observe runs on rep's raft goroutine for each of its observations, so it
// only takes a short lock. Every replica reports every change of leader it
// sees, so one election yields several observations; only the winner
// reporting itself counts, which it does exactly once per term it wins.
//
// A replica reporting no leader marks the loss if it was the leader, or if
// the last leader no longer leads; a follower merely cut off from a healthy
// leader does not. The controls that stop a leader mark the loss
// themselves, at the moment they act.
func (s *shard) observe(rep *replica, o *raft.Observation) {
	lo, ok := o.Data.(raft.LeaderObservation)
	if !ok {
		return
	}
	var term uint64
	if s.onLeader != nil || string(lo.LeaderID) == rep.node.id {
		term = o.Raft.CurrentTerm()
	}
	if s.onLeader != nil {
		s.onLeader(string(lo.LeaderID), term)
	}
	s.observeLeader(rep, string(lo.LeaderID), term)
}

// observeLeader is observe for a leader change rep saw: leader is the new
// leader's node id ("" for none), term the term rep is in.
func (s *shard) observeLeader(rep *replica, leader string, term uint64) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if leader == "" {
		if s.lastLeader != nil && (s.lastLeader == rep || !s.lastLeader.leading()) {
			s.markLostLocked(now)
		}
		return
	}
	if leader != rep.node.id {
		return
	}
	s.leaderChanges.Add(1)
	s.leader.Store(rep)
	e := Election{Shard: s.id, To: rep.node.id, At: now, Term: term}
	if s.lastLeader != nil {
		e.From = s.lastLeader.node.id
	}
	if !s.lostAt.IsZero() {
		e.Took = now.Sub(s.lostAt)
	}
	s.lastLeader, s.lostAt = rep, time.Time{}
	s.elections.add(e)
}

func (s *shard) markLostLocked(at time.Time) {
	if s.lostAt.IsZero() {
		s.lostAt = at
	}
}

// clearLost forgets a loss marked by a control that then failed, while rep
// still leads.
func (s *shard) clearLost(rep *replica) {
	s.mu.Lock()
	if s.lastLeader == rep && rep.leading() {
		s.lostAt = time.Time{}
	}
	s.mu.Unlock()
}

// markLost records that the shard's leader is gone as of at, unless an
// earlier loss is still unresolved.
func (s *shard) markLost(at time.Time) {
	s.mu.Lock()
	s.markLostLocked(at)
	s.mu.Unlock()
}

// leaderReplica returns the replica that leads the shard. When two believe
// they lead, as a cut-off old leader may until its lease runs out, the one
// in the higher term is the real one.
func (s *shard) leaderReplica() (*replica, error) {
	if rep := s.leader.Load(); rep != nil && rep.leading() {
		return rep, nil
	}
	var best *replica
	var bestTerm uint64
	for _, st := range s.seats() {
		rep := st.replica()
		if !rep.leading() {
			continue
		}
		if term := rep.currentTerm(); best == nil || term > bestTerm {
			best, bestTerm = rep, term
		}
	}
	if best == nil {
		return nil, ErrNoLeader
	}
	s.leader.Store(best)
	return best, nil
}

// forget drops rep as the leader hint after a call through it failed.
func (s *shard) forget(rep *replica) {
	if rep != nil {
		s.leader.CompareAndSwap(rep, nil)
	}
}

func (s *shard) status() (ShardStatus, *replica) {
	seats := s.seats()
	st := ShardStatus{ID: s.id, Replicas: make([]ReplicaStatus, len(seats))}
	var leader *replica
	var leaderTerm uint64
	for i, seat := range seats {
		rep := seat.replica()
		state, term, commit, applied, last := rep.raftStatus()
		st.Term = max(st.Term, term)
		if state == raft.Leader && (leader == nil || term > leaderTerm) {
			leader, leaderTerm = rep, term
		}
		st.Replicas[i] = ReplicaStatus{
			Node:         rep.node.id,
			State:        stateName(state),
			CommitIndex:  commit,
			AppliedIndex: applied,
			LastIndex:    last,
		}
	}
	if leader != nil {
		st.Leader = leader.node.id
		st.Term = leaderTerm
	}
	return st, leader
}

// stateName avoids strings.ToLower on every status poll.
func stateName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	default:
		return "shutdown"
	}
}

// seats returns the shard's seats; the caller must not modify the slice.
func (s *shard) seats() []*seat {
	if p := s.seatList.Load(); p != nil {
		return *p
	}
	return nil
}

// addSeat appends st. Callers serialise changes (Cluster.mu, or the single
// goroutine of NewCluster).
func (s *shard) addSeat(st *seat) {
	next := append(slices.Clone(s.seats()), st)
	s.seatList.Store(&next)
}

// dropSeat removes st, keeping the order of the rest.
func (s *shard) dropSeat(st *seat) {
	next := slices.DeleteFunc(slices.Clone(s.seats()), func(x *seat) bool { return x == st })
	s.seatList.Store(&next)
}

// preferSeat moves st to the front, making it the replica balanceLeaders
// moves the leadership to.
func (s *shard) preferSeat(st *seat) {
	next := []*seat{st}
	for _, x := range s.seats() {
		if x != st {
			next = append(next, x)
		}
	}
	s.seatList.Store(&next)
}

// seatOn returns the shard's seat on n, or nil.
func (s *shard) seatOn(n *node) *seat {
	for _, st := range s.seats() {
		if st.node == n {
			return st
		}
	}
	return nil
}

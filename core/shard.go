package core

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// replicationFactor is how many replicas a shard has when there are enough
// nodes: three survives one crash, which is what the fault controls exercise.
const replicationFactor = 3

// observationBuffer is deep enough that raft, which never blocks on an
// observer, drops no leader change between two reads of the drain goroutine.
const observationBuffer = 64

// shard is one Raft group and the replicas that run it.
type shard struct {
	id       int
	replicas []*replica // fixed once startShard returns

	// leader is the replica last seen leading: a hint that saves a scan of
	// the replicas on every call, checked before each use.
	leader atomic.Pointer[replica]

	// One observer, registered on every replica, feeds one drain goroutine.
	observer      *raft.Observer
	observations  chan raft.Observation
	leaderChanges atomic.Uint64
	stopObserving chan struct{}
	observerDone  chan struct{} // nil until the drain goroutine starts
}

// placeReplicas picks the nodes of a shard's replicas: consecutive nodes
// starting at the shard's id, so that with one shard per node replicas and
// leaders spread evenly, and shard 0 lives on n1..n3.
func placeReplicas(shardID int, nodes []*node) []*node {
	rf := min(replicationFactor, len(nodes))
	placed := make([]*node, rf)
	for i := range placed {
		placed[i] = nodes[(shardID+i)%len(nodes)]
	}
	return placed
}

// startShard starts a replica on each node and bootstraps the group with all
// of them as voters. On error it returns what it started, for the caller to
// stop.
func startShard(id int, nodes []*node, cfg Config, logger hclog.Logger) (*shard, error) {
	s := &shard{
		id:            id,
		observations:  make(chan raft.Observation, observationBuffer),
		stopObserving: make(chan struct{}),
	}
	s.observer = raft.NewObserver(s.observations, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	for _, n := range nodes {
		rep, err := startReplica(id, n, cfg, logger)
		if err != nil {
			return s, err
		}
		// Registered before bootstrap, so the first election is counted.
		rep.raft.RegisterObserver(s.observer)
		s.replicas = append(s.replicas, rep)
		n.replicas = append(n.replicas, rep)
	}
	// Started only now because it reads s.replicas.
	s.observerDone = make(chan struct{})
	go s.drainObservations()

	servers := make([]raft.Server, len(s.replicas))
	for i, rep := range s.replicas {
		servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(rep.node.id), Address: rep.addr()}
	}
	// Every replica gets the same configuration, which raft allows, so the
	// group does not depend on one of them being up first.
	for _, rep := range s.replicas {
		if err := rep.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			return s, fmt.Errorf("core: bootstrap shard %d on %s: %w", id, rep.node.id, err)
		}
	}
	return s, nil
}

// drainObservations counts leader changes. Every replica reports every change
// of leader it sees, so one election yields several observations; only the
// winner reporting itself is counted, which it does exactly once per term it
// wins.
func (s *shard) drainObservations() {
	defer close(s.observerDone)
	for {
		select {
		case o := <-s.observations:
			lo := o.Data.(raft.LeaderObservation)
			if rep := s.replicaOn(string(lo.LeaderID)); rep != nil && rep.raft == o.Raft {
				s.leaderChanges.Add(1)
				s.leader.Store(rep)
			}
		case <-s.stopObserving:
			return
		}
	}
}

func (s *shard) replicaOn(nodeID string) *replica {
	for _, r := range s.replicas {
		if r.node.id == nodeID {
			return r
		}
	}
	return nil
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
	for _, rep := range s.replicas {
		if !rep.leading() {
			continue
		}
		if term := rep.raft.CurrentTerm(); best == nil || term > bestTerm {
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

// stop ends observation and stops every replica, in parallel since each
// waits for its raft goroutines.
func (s *shard) stop() error {
	for _, rep := range s.replicas {
		// After this returns raft sends nothing more on the channel.
		rep.raft.DeregisterObserver(s.observer)
	}
	if s.observerDone != nil {
		close(s.stopObserving)
		<-s.observerDone
	}
	errs := make([]error, len(s.replicas))
	done := make(chan struct{})
	for i, rep := range s.replicas {
		go func() {
			errs[i] = rep.stop()
			done <- struct{}{}
		}()
	}
	for range s.replicas {
		<-done
	}
	return errors.Join(errs...)
}

func (s *shard) status() (ShardStatus, *replica) {
	st := ShardStatus{ID: s.id, Replicas: make([]ReplicaStatus, len(s.replicas))}
	var leader *replica
	var leaderTerm uint64
	for i, rep := range s.replicas {
		state := rep.raft.State()
		if rep.stopped.Load() {
			state = raft.Shutdown
		}
		term := rep.raft.CurrentTerm()
		st.Term = max(st.Term, term)
		if state == raft.Leader && (leader == nil || term > leaderTerm) {
			leader, leaderTerm = rep, term
		}
		st.Replicas[i] = ReplicaStatus{
			Node:         rep.node.id,
			State:        stateName(state),
			CommitIndex:  rep.raft.CommitIndex(),
			AppliedIndex: rep.raft.AppliedIndex(),
			LastIndex:    rep.raft.LastIndex(),
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

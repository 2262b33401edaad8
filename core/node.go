package core

import (
	"errors"
	"strconv"
	"sync/atomic"
)

// node is one member of the cluster and the seats of the replicas it hosts.
// It will also run the heartbeat loop that reports its health to the meta
// group.
type node struct {
	id    string
	index int // position in Cluster.nodes

	// seats is filled while the cluster starts and fixed afterwards; it
	// will need a lock once placement can move replicas.
	seats []*seat

	up atomic.Bool
}

func newNode(index int) *node {
	n := &node{id: "n" + strconv.Itoa(index+1), index: index}
	n.up.Store(true)
	return n
}

// addr is where the Raft traffic of the node's first replica arrives, ""
// when it hosts none. Each replica listens on a port of its own.
func (n *node) addr() string {
	if len(n.seats) == 0 {
		return ""
	}
	return string(n.seats[0].addr)
}

func (n *node) seatOf(shard int) *seat {
	for _, st := range n.seats {
		if st.shard.id == shard {
			return st
		}
	}
	return nil
}

// stop crashes every replica on the node, in parallel since each waits for
// its raft goroutines.
func (n *node) stop() error {
	n.up.Store(false)
	reps := make([]*replica, len(n.seats))
	for i, st := range n.seats {
		reps[i] = st.replica()
	}
	return stopReplicas(reps)
}

func stopReplicas(reps []*replica) error {
	errs := make([]error, len(reps))
	done := make(chan struct{})
	for i, rep := range reps {
		go func() {
			errs[i] = rep.stop()
			done <- struct{}{}
		}()
	}
	for range reps {
		<-done
	}
	return errors.Join(errs...)
}

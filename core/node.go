package core

import (
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
)

// node is one member of the cluster and the seats of the replicas it hosts.
// It runs a heartbeat loop that reports its health to the meta group.
type node struct {
	id    string
	index int // the node's slot in the network's link table

	// seatList is copy-on-write like shard.seatList: read without a lock,
	// replaced under Cluster.mu as replicas move.
	seatList atomic.Pointer[[]*seat]

	up atomic.Bool

	// remote says the node runs in a process of its own (processes.go);
	// lineP is the line to it while it runs.
	remote bool
	lineP  atomic.Pointer[nodeLine]

	// quit ends the heartbeat loop when the node leaves the cluster.
	quit chan struct{}

	// baseSent and baseRecv are the network slot's traffic counters when
	// the node took the slot: a removed node's bytes, which the slot's
	// counters keep, are not the new node's (AppendTraffic).
	baseSent, baseRecv uint64
}

// newNode makes node number seq ("n"+seq) in network slot index.
func newNode(seq, index int) *node {
	n := &node{id: "n" + strconv.Itoa(seq), index: index, quit: make(chan struct{})}
	n.up.Store(true)
	return n
}

// seats returns the seats on the node; the caller must not modify the slice.
func (n *node) seats() []*seat {
	if p := n.seatList.Load(); p != nil {
		return *p
	}
	return nil
}

func (n *node) addSeat(st *seat) {
	next := append(slices.Clone(n.seats()), st)
	n.seatList.Store(&next)
}

func (n *node) dropSeat(st *seat) {
	next := slices.DeleteFunc(slices.Clone(n.seats()), func(x *seat) bool { return x == st })
	n.seatList.Store(&next)
}

// addr is where the Raft traffic of the node's first replica arrives, ""
// when it hosts none. Each replica listens on a port of its own.
func (n *node) addr() string {
	seats := n.seats()
	if len(seats) == 0 {
		return ""
	}
	return string(seats[0].addr)
}

func (n *node) seatOf(shard int) *seat {
	for _, st := range n.seats() {
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
	seats := n.seats()
	reps := make([]*replica, len(seats))
	for i, st := range seats {
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

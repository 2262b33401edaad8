package core

import (
	"errors"
	"strconv"
	"sync/atomic"
)

// node is one member of the cluster and the replicas it hosts. It will also
// run the heartbeat loop that reports its health to the meta group.
type node struct {
	id    string
	index int // position in Cluster.nodes

	// replicas is filled while the cluster starts and fixed afterwards; it
	// will need a lock once placement can move replicas.
	replicas []*replica

	up atomic.Bool
}

func newNode(index int) *node {
	n := &node{id: "n" + strconv.Itoa(index+1), index: index}
	n.up.Store(true)
	return n
}

// addr is where the node's Raft traffic arrives, "" when it hosts no replica.
func (n *node) addr() string {
	if len(n.replicas) == 0 {
		return ""
	}
	return string(n.replicas[0].addr())
}

func (n *node) replicaOf(shard int) *replica {
	for _, r := range n.replicas {
		if r.shard == shard {
			return r
		}
	}
	return nil
}

// stop crashes every replica on the node.
func (n *node) stop() error {
	n.up.Store(false)
	var errs []error
	for _, r := range n.replicas {
		errs = append(errs, r.stop())
	}
	return errors.Join(errs...)
}

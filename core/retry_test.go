package core

import (
	"context"
	"testing"
	"time"
)

// A node host's read barrier waits for its state machine with a retry that
// has no cluster (NodeHost.Read): the wait must end at its deadline, not
// dereference the cluster it does not have.
func TestAwaitAppliedWithoutCluster(t *testing.T) {
	rt := retry{ctx: context.Background(), op: "read", deadline: time.Now().Add(20 * time.Millisecond)}
	defer rt.stop()
	f := newFSM()
	start := time.Now()
	for f.appliedIndex() < 10 && !rt.expired() {
		rt.awaitApplied(f, 10)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the wait took %v, past its 20 ms deadline", took)
	}
}

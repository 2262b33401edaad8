package core

import (
	"context"
)

// PutReplicated is Put that returns only once every live replica of the
// key's shard — not just a quorum — has applied the write: the time a
// write takes to reach the whole group. Crashed replicas are not waited
// for; a replica that is up but cut off is, until the deadline, so a
// partition shows as PutReplicated timing out. Deadlines are as for Put.
func (c *Cluster) PutReplicated(ctx context.Context, key string, value []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	rt := c.newRetry(ctx, "replicate")
	defer rt.stop()
	sh := c.shardFor(key)
	index, err := c.put(sh, key, value, &rt)
	if err != nil {
		return err
	}
	for _, st := range sh.seats() {
		rep := st.replica()
		for rep != nil && rep.remote != nil && !rep.stopped.Load() {
			// One call that waits on the node, rather than a call a poll.
			timeout, err := rt.begin()
			if err != nil {
				return err
			}
			a, err := rep.remoteRead(fsmQuery{Kind: "applied", ID: index}, timeout, nil)
			if err == nil && a.Applied >= index {
				break
			}
			if err != nil {
				if err := rt.pause(); err != nil { // a node that does not answer: not a spin
					return err
				}
			}
			rep = st.replica() // a restart swaps the replica
		}
		for rep != nil && rep.remote == nil && !rep.stopped.Load() && rep.appliedIndex() < index {
			if _, err := rt.begin(); err != nil { // closed, cancelled or past the deadline
				return err
			}
			rt.awaitApplied(rep.fsm, index)
			rep = st.replica() // a restart swaps the replica
		}
	}
	return nil
}

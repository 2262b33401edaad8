package suites

import (
	"testing"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/profiles/knob"
)

// A run the knobs accept is one the core can build, and sizing uses the
// core's replication factor.
func TestKnobLimitsAgreeWithCore(t *testing.T) {
	if knob.MaxNodes != core.MaxNodes {
		t.Errorf("knob.MaxNodes = %d, core.MaxNodes = %d", knob.MaxNodes, core.MaxNodes)
	}
	if knob.MaxShards != core.MaxShards {
		t.Errorf("knob.MaxShards = %d, core.MaxShards = %d", knob.MaxShards, core.MaxShards)
	}
	for n, want := range map[int]int{1: 1, 2: 2, 3: 3, 5: 3, knob.MaxNodes: 3} {
		cfg := DefaultConfig()
		cfg.Nodes = n
		if got := cfg.Replicas(); got != want || got != core.ReplicationFactor(n) {
			t.Errorf("%d nodes: %d replicas, want %d, as core has %d", n, got, want, core.ReplicationFactor(n))
		}
	}
}

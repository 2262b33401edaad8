package core

import "testing"

func TestPlacementIsBalanced(t *testing.T) {
	for nodes := 1; nodes <= 24; nodes++ {
		ns := make([]*node, nodes)
		for i := range ns {
			ns[i] = newNode(i+1, i)
		}
		for shards := 1; shards <= 64; shards++ {
			rf := min(3, nodes)
			load := make(map[*node]int)
			leads := make(map[*node]int)
			for s, placed := range placeReplicas(shards, ns) {
				seen := map[*node]bool{}
				for _, n := range placed {
					if seen[n] {
						t.Fatalf("%d nodes, %d shards: shard %d twice on %s", nodes, shards, s, n.id)
					}
					seen[n] = true
					load[n]++
				}
				if len(placed) != rf {
					t.Fatalf("%d nodes, %d shards: shard %d has %d replicas", nodes, shards, s, len(placed))
				}
				leads[placed[0]]++
			}
			lo, hi := shards*rf/nodes, (shards*rf+nodes-1)/nodes
			for _, n := range ns {
				if load[n] < lo || load[n] > hi {
					t.Errorf("%d nodes, %d shards: %s hosts %d replicas, want %d..%d", nodes, shards, n.id, load[n], lo, hi)
				}
				if leads[n] > (shards+nodes-1)/nodes {
					t.Errorf("%d nodes, %d shards: %s is preferred leader of %d", nodes, shards, n.id, leads[n])
				}
			}
		}
	}
}

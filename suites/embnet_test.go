package suites

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// An embedded run has each node's network — its Raft bytes, which the
// cluster counts per node — in cluster.node_resources, resources.nodes,
// the snapshots' nodes (the cluster panel, Prometheus, the bottleneck
// line's busiest node) and the Markdown and HTML reports; and no CPU,
// memory or disk figure for the nodes, which have none of their own.
func TestEmbeddedNodeNetwork(t *testing.T) {
	var mu sync.Mutex
	var last *metrics.Snapshot
	report := runReal(t, func(c *Config) {
		c.Suites = []string{"consensus"}
		c.Clients = 4
		c.Duration = 2 * time.Second
		// A snapshot of the load under way: the runner's last ticks come
		// as the clients drain, a moment apart, and may rate nothing.
		c.OnSnapshot = func(s *metrics.Snapshot) {
			if s.Phase == metrics.PhaseRunning && s.Elapsed < c.Duration*3/4 {
				mu.Lock()
				last = s
				mu.Unlock()
			}
		}
	})
	if len(report.Cluster.NodeResources) != 3 {
		t.Fatalf("cluster.node_resources has %d nodes, want 3: %+v", len(report.Cluster.NodeResources), report.Cluster.NodeResources)
	}
	for _, r := range report.Cluster.NodeResources {
		if r.NetSamples == 0 || r.NetRecvAvgBytesPerSec <= 0 || r.NetSentAvgBytesPerSec <= 0 || r.NetSentMaxBytesPerSec < r.NetSentAvgBytesPerSec {
			t.Errorf("node %s: network over the load not measured: %+v", r.ID, r)
		}
		if r.PID != 0 || r.CPUSamples != 0 || r.CPUAvgPercent != 0 || r.RSSAvgBytes != 0 || r.RSSMaxBytes != 0 || r.DiskSamples != 0 {
			t.Errorf("node %s: figures of its own it does not have: %+v", r.ID, r)
		}
	}
	if len(report.Resources.Nodes) != 3 {
		t.Fatalf("resources.nodes has %d nodes, want 3", len(report.Resources.Nodes))
	}
	for _, n := range report.Resources.Nodes {
		if n.CPUPercent != nil || n.RSSBytes != nil || n.DiskReadBytesPerSec != nil {
			t.Errorf("node %s: CPU, memory or disk series: %+v", n.Name, n)
		}
		if len(n.AtS) == 0 || len(n.NetRxBytesPerSec) != len(n.AtS) || len(n.NetTxBytesPerSec) != len(n.AtS) {
			t.Errorf("node %s: %d points, %d network received, %d sent", n.Name, len(n.AtS), len(n.NetRxBytesPerSec), len(n.NetTxBytesPerSec))
		}
	}

	mu.Lock()
	s := last
	mu.Unlock()
	if s == nil {
		t.Fatal("no snapshot while running")
	}
	for _, n := range s.Cluster.Nodes {
		if !n.HasNet || n.NetSentBytes == 0 || n.NetRecvBytes == 0 || n.NetSentBps < 0 || n.NetRecvBps < 0 {
			t.Errorf("snapshot node %s: no network: %+v", n.ID, n)
		}
		if n.PID != 0 || n.CPUPercent >= 0 || n.RSSBytes != 0 || n.HasDisk {
			t.Errorf("snapshot node %s: CPU, memory or disk of its own: %+v", n.ID, n)
		}
	}
	if sig := metrics.NewDiagnoser(0, false).SignalsOf(s); sig.NetNode == "" || sig.NetNodeBps <= 0 {
		t.Errorf("the bottleneck's signals name no busiest node: %q %v", sig.NetNode, sig.NetNodeBps)
	}

	var md, page bytes.Buffer
	if err := metrics.WriteMarkdown(&md, report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| node | net in avg |") || !strings.Contains(md.String(), "| n1 | ") {
		t.Errorf("the Markdown report has no node network table:\n%s", md.String())
	}
	if err := metrics.WriteHTML(&page, report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "network sent per node") {
		t.Error("the HTML page has no per-node network chart")
	}
	if strings.Contains(page.String(), "CPU per node") || strings.Contains(page.String(), "memory (RSS) per node") {
		t.Error("the HTML page charts a CPU or memory per embedded node")
	}
}

// fakeTraffic is a cluster whose nodes' counters a test sets.
type fakeTraffic struct {
	DB     // not called
	nodes  []core.NodeTraffic
	closed bool
}

func (f *fakeTraffic) AppendTraffic(dst []core.NodeTraffic) ([]core.NodeTraffic, bool) {
	if f.closed {
		return dst, false
	}
	return append(dst, f.nodes...), true
}

// The embedded sampling rates each node's bytes over the wall time
// between two readings; names the nodes of a cluster opened after the
// run's own cK.ID; has no figures for a node that is down, nor a rate
// for its first reading after, nor for a counter that went back; and lets
// go of a closed cluster and of removed nodes.
func TestEmbeddedTrafficSample(t *testing.T) {
	var n nodeProcs
	own := &fakeTraffic{nodes: []core.NodeTraffic{{ID: "n1", Up: true, Sent: 1000, Recv: 500}, {ID: "n2", Up: true, Sent: 10, Recv: 20}}}
	fresh := &fakeTraffic{nodes: []core.NodeTraffic{{ID: "n1", Up: true, Sent: 7, Recv: 7}}}
	n.opened(own)
	n.opened(fresh)
	t0 := time.Now()
	first := n.sample(t0, true)
	t1 := time.Now()
	if len(first) != 3 {
		t.Fatalf("first sample: %v, want n1, n2 and c2.n1", first)
	}
	for id, u := range first {
		if !u.hasNet || !math.IsNaN(u.netSent) || !math.IsNaN(u.netRecv) || u.cpu != -1 || u.rss != 0 || !math.IsNaN(u.diskRead) || u.pid != 0 {
			t.Errorf("%s at its first reading: %+v, want its counters and no rate, CPU, memory or disk", id, u)
		}
	}
	if u := first["n1"]; u.netSentB != 1000 || u.netRecvB != 500 {
		t.Errorf("n1's counters: %+v", u)
	}

	time.Sleep(50 * time.Millisecond)
	own.nodes[0].Sent += 4000 // n1 sends 4000 bytes, receives 2000
	own.nodes[0].Recv += 2000
	own.nodes[1].Up = false // n2 crashes
	fresh.nodes[0].Sent = 3 // a counter going back
	t2 := time.Now()
	second := n.sample(t2, true)
	t3 := time.Now()
	u := second["n1"]
	// The readings were between t0 and t1, and between t2 and t3.
	lo, hi := t2.Sub(t1).Seconds(), t3.Sub(t0).Seconds()
	if u.netSent < 4000/hi || u.netSent > 4000/lo || u.netRecv < 2000/hi || u.netRecv > 2000/lo {
		t.Errorf("n1 rated %.0f B/s sent, %.0f received; want 4000 and 2000 bytes over %.3f..%.3f s", u.netSent, u.netRecv, lo, hi)
	}
	if _, ok := second["n2"]; ok {
		t.Error("crashed n2 has figures")
	}
	if c := second["c2.n1"]; !math.IsNaN(c.netSent) || c.netSentB != 3 {
		t.Errorf("c2.n1's counter went back: %+v, want no rate", c)
	}

	own.nodes[1].Up = true // n2 restarts: its first reading only sets where its rates start
	own.nodes = own.nodes[1:]
	fresh.closed = true
	third := n.sample(time.Now(), true)
	if len(third) != 1 || !math.IsNaN(third["n2"].netSent) {
		t.Errorf("third sample: %+v, want n2 alone, without a rate", third)
	}
	if len(n.emb.srcs) != 1 || len(n.emb.prev) != 1 {
		t.Errorf("%d clusters and %d nodes kept, want 1 and 1", len(n.emb.srcs), len(n.emb.prev))
	}

	res := n.resources()
	if len(res) != 3 {
		t.Fatalf("resources: %+v", res)
	}
	for _, r := range res {
		want := 0
		if r.ID == "n1" {
			want = 1
		}
		if r.NetSamples != want || r.CPUSamples != 0 || r.RSSMaxBytes != 0 {
			t.Errorf("%s: %+v, want %d network samples and no CPU or memory", r.ID, r, want)
		}
	}
}

// BenchmarkEmbeddedTrafficSample is a tick's sampling of an embedded
// cluster of 3 and of 30 nodes: one AppendTraffic call per cluster, and
// allocations bounded by the sample's own map of results.
func BenchmarkEmbeddedTrafficSample(b *testing.B) {
	for _, size := range []int{3, 30} {
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			f := &fakeTraffic{}
			for i := range size {
				f.nodes = append(f.nodes, core.NodeTraffic{ID: fmt.Sprintf("n%d", i+1), Up: true})
			}
			var n nodeProcs
			n.opened(f)
			n.startSeries(time.Now(), 10)
			b.ReportAllocs()
			for b.Loop() {
				for i := range f.nodes {
					f.nodes[i].Sent += 1000
					f.nodes[i].Recv += 1000
				}
				if got := n.sample(time.Now(), true); len(got) != size {
					b.Fatalf("%d nodes sampled, want %d", len(got), size)
				}
			}
		})
	}
}

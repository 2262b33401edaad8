package suites

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/suites/metrics"
)

// A processes-mode report carries each node's resources over time in
// resources.nodes, one entry per node with CPU and memory points, beside
// cluster.node_resources; the HTML page draws them a line per node.
func TestNodeResourceSeries(t *testing.T) {
	report := runReal(t, func(c *Config) {
		c.Cluster = ClusterProcesses
		c.Suites = []string{"consensus"}
		c.Clients = 4
		c.Duration = 2 * time.Second
		c.NodeLogDir = t.TempDir()
	})
	if len(report.Cluster.NodeResources) < 3 {
		t.Fatalf("cluster.node_resources has %d nodes, want 3: %+v", len(report.Cluster.NodeResources), report.Cluster.NodeResources)
	}
	seen := map[string]bool{}
	for _, n := range report.Resources.Nodes {
		if seen[n.Name] {
			t.Errorf("node %s has two series", n.Name)
		}
		seen[n.Name] = true
		if len(n.AtS) == 0 || len(n.CPUPercent) != len(n.AtS) || len(n.RSSBytes) != len(n.AtS) {
			t.Errorf("node %s: %d points, %d CPU, %d RSS", n.Name, len(n.AtS), len(n.CPUPercent), len(n.RSSBytes))
			continue
		}
		cpu, rss := false, false
		for i := range n.AtS {
			cpu = cpu || (!n.CPUPercent[i].Missing() && n.CPUPercent[i] > 0)
			rss = rss || (!n.RSSBytes[i].Missing() && n.RSSBytes[i] > 0)
		}
		if !cpu || !rss {
			t.Errorf("node %s: no CPU (%v) or no memory (%v) measured: %+v", n.Name, cpu, rss, n)
		}
		// Every node replicates the load: its network, as it counts it,
		// moves both ways.
		if len(n.NetRxBytesPerSec) != len(n.AtS) || len(n.NetTxBytesPerSec) != len(n.AtS) {
			t.Errorf("node %s: %d points, %d network received, %d sent", n.Name, len(n.AtS), len(n.NetRxBytesPerSec), len(n.NetTxBytesPerSec))
			continue
		}
		rx, tx := false, false
		for i := range n.AtS {
			rx = rx || (!n.NetRxBytesPerSec[i].Missing() && n.NetRxBytesPerSec[i] > 0)
			tx = tx || (!n.NetTxBytesPerSec[i].Missing() && n.NetTxBytesPerSec[i] > 0)
		}
		if !rx || !tx {
			t.Errorf("node %s: no network received (%v) or sent (%v): %+v", n.Name, rx, tx, n)
		}
	}
	for _, r := range report.Cluster.NodeResources {
		if !seen[r.ID] {
			t.Errorf("node %s has resources but no series in resources.nodes", r.ID)
		}
		if r.NetSamples == 0 || r.NetRecvAvgBytesPerSec <= 0 || r.NetSentAvgBytesPerSec <= 0 || r.NetSentMaxBytesPerSec < r.NetSentAvgBytesPerSec {
			t.Errorf("node %s: network over the load not measured: %+v", r.ID, r)
		}
		if r.DiskSamples == 0 {
			t.Errorf("node %s: disk over the load not measured: %+v", r.ID, r)
		}
	}
	if len(seen) != len(report.Cluster.NodeResources) {
		t.Errorf("%d series for %d nodes", len(seen), len(report.Cluster.NodeResources))
	}
	var page bytes.Buffer
	if err := metrics.WriteHTML(&page, report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "CPU per node") {
		t.Error("the HTML page has no per-node CPU chart")
	}
	if !strings.Contains(page.String(), "network sent per node") {
		t.Error("the HTML page has no per-node network chart")
	}
}

// nodeRates rates a node's counters over the time between its two
// reports on its own clock, not over when they arrived; a new process (or
// no time passed) gives no rate, and a counter that went back gives 0.
func TestNodeRates(t *testing.T) {
	prev := node.ProcessUse{PID: 7, Uptime: 10 * time.Second, CPUSeconds: 2, RaftSent: 1000, APISent: 500, RaftRecv: 4000, APIRecv: 0,
		HasDisk: true, DiskRead: 100, DiskWrite: 1 << 20}
	cur := prev
	cur.Uptime += 500 * time.Millisecond
	cur.CPUSeconds += 0.25
	cur.RaftSent += 3000
	cur.APISent += 1000
	cur.RaftRecv += 500
	cur.APIRecv += 1500
	cur.DiskWrite += 512 << 10
	cpu, recv, sent, rd, wr, ok := nodeRates(prev, cur)
	if !ok {
		t.Fatal("no rates")
	}
	want := [5]float64{50, 4000, 8000, 0, 1 << 20}
	if got := [5]float64{cpu, recv, sent, rd, wr}; got != want {
		t.Errorf("rates %v, want %v (cpu %%, recv, sent, read, write B/s)", got, want)
	}
	if _, _, _, _, _, ok := nodeRates(prev, prev); ok {
		t.Error("rates over no time")
	}
	other := cur
	other.PID = 8
	if _, _, _, _, _, ok := nodeRates(prev, other); ok {
		t.Error("rates across two processes")
	}
	back := cur
	back.RaftSent, back.APISent = 0, 0
	if _, _, sent, _, _, ok := nodeRates(prev, back); ok {
		t.Errorf("a counter that went back gives %v B/s, want no rate", sent)
	}
	noDisk := cur
	noDisk.HasDisk = false
	if _, _, _, rd, _, _ := nodeRates(prev, noDisk); !math.IsNaN(rd) {
		t.Errorf("disk rate without disk counters: %v", rd)
	}
}

// --node-cpus: every node process runs in a CPU quota group of its own
// while the run lasts (read from /proc/PID/cgroup, not from phantom's own
// bookkeeping), is throttled by it, and the report says the run was
// emulated and under which quota.
func TestNodeCPUQuota(t *testing.T) {
	if err := cgroup.Check(); err != nil {
		t.Skipf("no CPU quotas on this machine: %v", err)
	}
	parent := fmt.Sprintf("/phantom-%d/", os.Getpid())
	var mu sync.Mutex
	inGroup := map[int]bool{} // node pid: seen in a group under this run's parent
	report := runReal(t, func(c *Config) {
		c.Cluster = ClusterProcesses
		c.NodeCPUs = 0.2
		c.Suites = []string{"consensus"}
		c.Clients = 8
		c.Duration = 3 * time.Second
		c.NodeLogDir = t.TempDir()
		c.OnSnapshot = func(s *metrics.Snapshot) {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range s.Cluster.Nodes {
				if n.PID == 0 || inGroup[n.PID] {
					continue
				}
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", n.PID))
				if err != nil {
					continue
				}
				for _, line := range strings.Split(string(b), "\n") {
					// "2:cpu,cpuacct:/phantom-1/l1-n1" (v1) or "0::/phantom-1/l1-n1" (v2)
					f := strings.SplitN(line, ":", 3)
					if len(f) == 3 && (f[1] == "" || strings.Contains(","+f[1]+",", ",cpu,")) && strings.Contains(f[2]+"/", parent) {
						inGroup[n.PID] = true
					}
				}
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range report.Cluster.NodeLogs {
		if !inGroup[p.PID] {
			t.Errorf("node %s (pid %d) was not seen in a CPU quota group under %s", p.ID, p.PID, parent)
		}
	}
	if s, ok := report.Settings.(Settings); !ok || s.NodeCPUs != 0.2 {
		t.Errorf("settings %+v, want node_cpus 0.2", report.Settings)
	}
	if !report.Cluster.Emulated || !strings.Contains(report.Cluster.CPUQuota, "0.2 CPUs per node") {
		t.Errorf("cluster emulated=%v cpu_quota=%q, want emulated under 0.2 CPUs per node", report.Cluster.Emulated, report.Cluster.CPUQuota)
	}
	throttled := 0.0
	for _, r := range report.Cluster.NodeResources {
		if r.QuotaCPUs != 0.2 || r.ThrottledSamples == 0 {
			t.Errorf("node %s: quota %v CPUs over %d throttling samples, want 0.2 and some", r.ID, r.QuotaCPUs, r.ThrottledSamples)
		}
		// A node can use its quota and no more, give or take a tick's
		// sampling edge.
		if r.CPUAvgPercent > 20*1.5 {
			t.Errorf("node %s used %.0f%% of a core on average under a 20%% quota", r.ID, r.CPUAvgPercent)
		}
		throttled = max(throttled, r.ThrottledMaxPercent)
	}
	if throttled == 0 {
		t.Error("no node was ever throttled under 0.2 CPUs with 8 clients")
	}
	var md bytes.Buffer
	if err := metrics.WriteMarkdown(&md, report); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`node\_cpus=0.2`, "Emulated:", "| CPU quota | throttled avg |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown report lacks %q", want)
		}
	}
	if i := strings.Index(md.String(), "Emulated:"); i >= 0 && testing.Verbose() {
		t.Log(md.String()[i:min(len(md.String()), i+1500)])
	}
}

// The scalability suite's node sweep in processes mode with --node-cpus:
// it doubles from one node, each step's fresh cluster is node processes
// of its own, each under its quota, reported under names apart from the
// run's own nodes; each step says its replicas, what its nodes used, what
// the run's idle ones used beside it and what bound it.
func TestNodeSweepUnderQuota(t *testing.T) {
	if err := cgroup.Check(); err != nil {
		t.Skipf("no CPU quotas on this machine: %v", err)
	}
	defer func(m time.Duration) { minStep = m }(minStep)
	minStep = 300 * time.Millisecond
	report := runReal(t, func(c *Config) {
		c.Cluster = ClusterProcesses
		c.NodeCPUs = 0.2
		c.Suites = []string{"scalability"}
		c.Nodes = 4
		c.Clients = 8
		c.Duration = 6 * time.Second
		c.NodeLogDir = t.TempDir()
	})
	sc := report.Scalability
	if sc == nil || len(sc.Sweeps) != 2 || sc.Sweeps[1].Kind != metrics.SweepNodes {
		t.Fatalf("scalability %+v, want a clients sweep and a node sweep", sc)
	}
	sw := sc.Sweeps[1]
	var steps, replicas []int
	for _, p := range sw.Points {
		steps, replicas = append(steps, p.N), append(replicas, p.Replicas)
		if p.Empty {
			t.Errorf("the %d-node step measured nothing", p.N)
			continue
		}
		if p.NodesCPUs <= 0 || p.QuotaUsePercent <= 0 || p.BoundBy == "" {
			t.Errorf("the %d-node step: nodes' CPU %v, %v%% of quota, bound by %q; want them measured", p.N, p.NodesCPUs, p.QuotaUsePercent, p.BoundBy)
		}
		// A step's nodes cannot use more than their quotas, give or take
		// a tick's sampling edge.
		if p.NodesCPUs > float64(p.N)*0.2*1.5 {
			t.Errorf("the %d-node step's nodes used %.2f CPUs under quotas of 0.2 each", p.N, p.NodesCPUs)
		}
		if fresh := p.N < 4; fresh != (p.IdleNodesCPUs > 0) {
			t.Errorf("the %d-node step: the run's idle nodes used %v CPUs; want a figure on the fresh steps only", p.N, p.IdleNodesCPUs)
		}
	}
	if !slices.Equal(steps, []int{1, 2, 4}) || !slices.Equal(replicas, []int{1, 2, 3}) {
		t.Errorf("node steps %v with replicas %v, want 1, 2, 4 with 1, 2, 3", steps, replicas)
	}
	if sw.NodeCPUs != 0.2 || !strings.Contains(strings.Join(sw.Notes, " "), "1 node replicates once") {
		t.Errorf("sweep quota %v, notes %q: want 0.2 and the 1-node step's single replica noted", sw.NodeCPUs, sw.Notes)
	}
	fresh := map[string]int{}
	for _, r := range report.Cluster.NodeResources {
		if i := strings.IndexByte(r.ID, '.'); i > 0 {
			fresh[r.ID[:i]]++
		}
		if r.QuotaCPUs != 0.2 {
			t.Errorf("node %s ran under a quota of %v CPUs, want 0.2", r.ID, r.QuotaCPUs)
		}
	}
	if fresh["c2"] != 1 || fresh["c3"] != 2 {
		t.Errorf("fresh clusters' nodes in node_resources %v, want 1 of the 1-node step's (c2) and 2 of the 2-node step's (c3)", fresh)
	}
	if testing.Verbose() {
		var sum bytes.Buffer
		_ = metrics.WriteSummary(&sum, report)
		if i := strings.Index(sum.String(), "scalability nodes"); i >= 0 {
			t.Log(sum.String()[i:])
		}
	}
}

// The nodes' own reports are fetched off the tick: latest hands back the
// previous fetch's answers at once while a slow node keeps the next one
// out (one fetch at a time), and a fetch ends at joinUseTimeout however
// long the node would take.
func TestUseFetchNeverHoldsTheTick(t *testing.T) {
	var f useFetch
	calls := make(chan struct{}, 10)
	slow := func(ctx context.Context) (map[string]node.ProcessUse, map[string]node.ProcessUse) {
		calls <- struct{}{}
		<-ctx.Done() // a node that never answers
		return map[string]node.ProcessUse{"n1": {PID: 1}}, nil
	}
	for range 3 {
		if j, _ := f.latest(slow); j != nil {
			t.Fatalf("answers %v before any fetch came back", j)
		}
	}
	select {
	case <-calls:
	case <-time.After(10 * joinUseTimeout):
		t.Fatal("no fetch started")
	}
	if n := len(calls); n != 0 {
		t.Errorf("%d fetches out at once, want 1", n+1)
	}
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * joinUseTimeout):
		t.Fatal("a fetch from a node that never answers did not end at its timeout")
	}
	if j, _ := f.latest(slow); j["n1"].PID != 1 {
		t.Errorf("after the fetch ended, latest gives %v, want its answers", j)
	}
	f.wg.Wait()
}

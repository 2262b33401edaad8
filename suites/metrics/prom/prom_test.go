package prom

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/phantomdb/phantom/suites/metrics"
)

func TestExporterReadsTheSnapshot(t *testing.T) {
	e := &Exporter{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("before any snapshot: %d metrics, %v", n, err)
	}
	buckets := make([]uint64, len(metrics.LatencyBounds))
	for j := range buckets {
		buckets[j] = 7
	}
	e.Update(&metrics.Snapshot{
		Phase: metrics.PhaseRunning, Suite: "consensus", Elapsed: 3 * time.Second,
		Ops: []metrics.OpStats{{
			OpSpec:  metrics.OpSpec{Name: "consensus.submit", Suite: "consensus"},
			Total:   metrics.Figures{Count: 9, Errors: 2, ErrorsBy: map[string]uint64{"timeout": 2}},
			Buckets: buckets, LatencySum: 90 * time.Millisecond,
		}},
		System:    metrics.System{CPU: metrics.Gauge{Value: 40, OK: true}}, // RSS unknown: absent
		Cluster:   metrics.Cluster{Nodes: []metrics.Node{{ID: "n1", Up: true, Leaderships: 1}}, Shards: []metrics.Shard{{ID: 0, Leader: "n1", MaxLag: 3}}},
		Elections: metrics.Elections{Caused: 1, Spontaneous: 2},
	})
	want := `
# HELP phantom_op_errors_total Failed operations since the op's suite started, by kind of error.
# TYPE phantom_op_errors_total counter
phantom_op_errors_total{kind="timeout",op="consensus.submit",suite="consensus"} 2
# HELP phantom_ops_total Operations completed since the op's suite started.
# TYPE phantom_ops_total counter
phantom_ops_total{op="consensus.submit",suite="consensus"} 9
# HELP phantom_elections_total Leader elections: kind caused (by a fault or membership change the run made) or spontaneous.
# TYPE phantom_elections_total counter
phantom_elections_total{kind="caused"} 1
phantom_elections_total{kind="spontaneous"} 2
# HELP phantom_replication_lag_max_entries Committed entries the slowest live replica of any shard has yet to apply.
# TYPE phantom_replication_lag_max_entries gauge
phantom_replication_lag_max_entries 3
# HELP phantom_cpu_percent Machine CPU busy, percent of all cores.
# TYPE phantom_cpu_percent gauge
phantom_cpu_percent 40
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "phantom_ops_total", "phantom_op_errors_total",
		"phantom_elections_total", "phantom_replication_lag_max_entries", "phantom_cpu_percent", "phantom_process_resident_memory_bytes"); err != nil {
		t.Error(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "phantom_op_latency_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 9 || h.GetSampleSum() != 0.09 || len(h.GetBucket()) != len(metrics.LatencyBounds) {
			t.Errorf("histogram %v", h)
		}
		return
	}
	t.Error("no phantom_op_latency_seconds")
}

// A node process's CPU, memory and quota are served per node; a node
// inside phantom's process, with no figures of its own, and a rate not yet
// measured are absent, never 0.
func TestExporterServesNodeProcesses(t *testing.T) {
	e := &Exporter{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	e.Update(&metrics.Snapshot{Cluster: metrics.Cluster{Nodes: []metrics.Node{
		{ID: "n1", Up: true, PID: 101, CPUPercent: 42.5, RSSBytes: 64 << 20, QuotaCPUs: 0.2, ThrottledPercent: 80},
		{ID: "n2", Up: true, PID: 102, CPUPercent: -1, RSSBytes: 32 << 20},
		{ID: "n3", Up: true}, // embedded
	}}})
	want := `
# HELP phantom_node_cpu_percent The node process's CPU, percent of one core (nodes as processes only).
# TYPE phantom_node_cpu_percent gauge
phantom_node_cpu_percent{node="n1"} 42.5
# HELP phantom_node_resident_memory_bytes The node process's resident memory (nodes as processes only).
# TYPE phantom_node_resident_memory_bytes gauge
phantom_node_resident_memory_bytes{node="n1"} 6.7108864e+07
phantom_node_resident_memory_bytes{node="n2"} 3.3554432e+07
# HELP phantom_node_cpu_quota_cpus The CPU quota the node process runs under (--node-cpus).
# TYPE phantom_node_cpu_quota_cpus gauge
phantom_node_cpu_quota_cpus{node="n1"} 0.2
# HELP phantom_node_cpu_throttled_percent Share of the quota periods in which the node process was throttled.
# TYPE phantom_node_cpu_throttled_percent gauge
phantom_node_cpu_throttled_percent{node="n1"} 80
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "phantom_node_cpu_percent", "phantom_node_resident_memory_bytes",
		"phantom_node_cpu_quota_cpus", "phantom_node_cpu_throttled_percent"); err != nil {
		t.Error(err)
	}
}

// A node's network and disk counters are served as totals, per node, only
// for a node that measured them: an embedded node's network too, without
// the CPU and memory it has none of its own of.
func TestExporterServesNodeTraffic(t *testing.T) {
	e := &Exporter{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	e.Update(&metrics.Snapshot{Cluster: metrics.Cluster{Nodes: []metrics.Node{
		{ID: "n1", Up: true, PID: 101, CPUPercent: 10, RSSBytes: 1 << 20, HasNet: true, NetRecvBytes: 5000, NetSentBytes: 7000,
			NetRecvBps: -1, NetSentBps: -1, HasDisk: true, DiskReadBytes: 4096, DiskWriteBytes: 8192},
		{ID: "n2", Up: true, PID: 102, CPUPercent: -1, RSSBytes: 1 << 20, NetRecvBps: -1, NetSentBps: -1}, // nothing measured
		{ID: "n3", Up: true}, // embedded, not sampled
		{ID: "n4", Up: true, CPUPercent: -1, HasNet: true, NetRecvBytes: 300, NetSentBytes: 400, NetRecvBps: 30, NetSentBps: 40}, // embedded
	}}})
	want := `
# HELP phantom_node_network_receive_bytes_total Bytes the node received over its Raft links and API, as it counts them (a node process's reset when it restarts; an embedded node's Raft bytes, kept across restarts).
# TYPE phantom_node_network_receive_bytes_total counter
phantom_node_network_receive_bytes_total{node="n1"} 5000
phantom_node_network_receive_bytes_total{node="n4"} 300
# HELP phantom_node_network_transmit_bytes_total Bytes the node sent over its Raft links and API, as it counts them (a node process's reset when it restarts; an embedded node's Raft bytes, kept across restarts).
# TYPE phantom_node_network_transmit_bytes_total counter
phantom_node_network_transmit_bytes_total{node="n1"} 7000
phantom_node_network_transmit_bytes_total{node="n4"} 400
# HELP phantom_node_cpu_percent The node process's CPU, percent of one core (nodes as processes only).
# TYPE phantom_node_cpu_percent gauge
phantom_node_cpu_percent{node="n1"} 10
# HELP phantom_node_resident_memory_bytes The node process's resident memory (nodes as processes only).
# TYPE phantom_node_resident_memory_bytes gauge
phantom_node_resident_memory_bytes{node="n1"} 1.048576e+06
phantom_node_resident_memory_bytes{node="n2"} 1.048576e+06
# HELP phantom_node_disk_read_bytes_total Bytes the node process made the storage layer read (/proc/PID/io read_bytes).
# TYPE phantom_node_disk_read_bytes_total counter
phantom_node_disk_read_bytes_total{node="n1"} 4096
# HELP phantom_node_disk_written_bytes_total Bytes the node process dirtied for writing to storage (/proc/PID/io write_bytes).
# TYPE phantom_node_disk_written_bytes_total counter
phantom_node_disk_written_bytes_total{node="n1"} 8192
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "phantom_node_network_receive_bytes_total",
		"phantom_node_network_transmit_bytes_total", "phantom_node_disk_read_bytes_total", "phantom_node_disk_written_bytes_total",
		"phantom_node_cpu_percent", "phantom_node_resident_memory_bytes"); err != nil {
		t.Error(err)
	}
}

func TestServerListensAndCloses(t *testing.T) {
	if _, err := Listen("localhost"); err == nil || !strings.Contains(err.Error(), "want HOST:PORT") {
		t.Errorf("Listen without a port: %v", err)
	}
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(s.Addr()); err == nil {
		t.Error("a second server on the same port listens")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

// TestMain checks that a closed server leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every metric the Grafana dashboard queries is one the exporter serves.
func TestDashboardQueriesServedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../../deploy/grafana/phantom.json")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	(&Exporter{}).Describe(ch)
	close(ch)
	fq := regexp.MustCompile(`fqName: "([a-z_0-9]+)"`)
	for d := range ch {
		served[fq.FindStringSubmatch(d.String())[1]] = true
	}
	names := regexp.MustCompile(`phantom_[a-z_0-9]+`).FindAllString(string(b), -1)
	if len(names) < 10 {
		t.Fatalf("%d metric names in the dashboard", len(names))
	}
	for _, n := range names {
		if !served[n] && !served[strings.TrimSuffix(n, "_bucket")] {
			t.Errorf("the dashboard queries %s, which is not served", n)
		}
	}
}

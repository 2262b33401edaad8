// Package prom serves the runner's snapshots as Prometheus metrics while a
// run lasts. Everything it exposes is read from the latest snapshot at
// scrape time: nothing is counted on the load's hot path, and the labels
// are bounded (suite, op, kind, node, phase — never a key).
package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phantomdb/phantom/suites/metrics"
)

const ns = "phantom"

var (
	opLabels = []string{"suite", "op"}

	descOps       = prometheus.NewDesc(ns+"_ops_total", "Operations completed since the op's suite started.", opLabels, nil)
	descErrors    = prometheus.NewDesc(ns+"_op_errors_total", "Failed operations since the op's suite started, by kind of error.", []string{"suite", "op", "kind"}, nil)
	descLatency   = prometheus.NewDesc(ns+"_op_latency_seconds", "Latency of the completed operations (open loop: from each op's intended start).", opLabels, nil)
	descOpsPerSec = prometheus.NewDesc(ns+"_op_ops_per_second", "Operations per second over the last few ticks.", opLabels, nil)
	descP99       = prometheus.NewDesc(ns+"_op_latency_p99_seconds", "99th percentile latency over the last few ticks, from the HDR histogram.", opLabels, nil)

	descCPU       = prometheus.NewDesc(ns+"_cpu_percent", "Machine CPU busy, percent of all cores.", nil, nil)
	descProcCPU   = prometheus.NewDesc(ns+"_process_cpu_percent", "phantom's CPU, percent of all cores.", nil, nil)
	descRSS       = prometheus.NewDesc(ns+"_process_resident_memory_bytes", "phantom's resident memory.", nil, nil)
	descNetRx     = prometheus.NewDesc(ns+"_network_receive_bytes_per_second", "Bytes per second received, all interfaces.", nil, nil)
	descNetTx     = prometheus.NewDesc(ns+"_network_transmit_bytes_per_second", "Bytes per second sent, all interfaces.", nil, nil)
	descDiskRead  = prometheus.NewDesc(ns+"_disk_read_bytes_per_second", "Bytes per second read from block devices.", nil, nil)
	descDiskWrite = prometheus.NewDesc(ns+"_disk_write_bytes_per_second", "Bytes per second written to block devices.", nil, nil)

	descNodeUp      = prometheus.NewDesc(ns+"_node_up", "1 when the cluster node is up.", []string{"node"}, nil)
	descLeaderships = prometheus.NewDesc(ns+"_node_leaderships", "Shards the node leads.", []string{"node"}, nil)
	descNodeCPU     = prometheus.NewDesc(ns+"_node_cpu_percent", "The node process's CPU, percent of one core (nodes as processes only).", []string{"node"}, nil)
	descNodeRSS     = prometheus.NewDesc(ns+"_node_resident_memory_bytes", "The node process's resident memory (nodes as processes only).", []string{"node"}, nil)
	descNodeQuota   = prometheus.NewDesc(ns+"_node_cpu_quota_cpus", "The CPU quota the node process runs under (--node-cpus).", []string{"node"}, nil)
	descNodeThrot   = prometheus.NewDesc(ns+"_node_cpu_throttled_percent", "Share of the quota periods in which the node process was throttled.", []string{"node"}, nil)
	descNodeNetRecv = prometheus.NewDesc(ns+"_node_network_receive_bytes_total", "Bytes the node received over its Raft links and API, as it counts them (a node process's reset when it restarts; an embedded node's Raft bytes, kept across restarts).", []string{"node"}, nil)
	descNodeNetSent = prometheus.NewDesc(ns+"_node_network_transmit_bytes_total", "Bytes the node sent over its Raft links and API, as it counts them (a node process's reset when it restarts; an embedded node's Raft bytes, kept across restarts).", []string{"node"}, nil)
	descNodeDiskRd  = prometheus.NewDesc(ns+"_node_disk_read_bytes_total", "Bytes the node process made the storage layer read (/proc/PID/io read_bytes).", []string{"node"}, nil)
	descNodeDiskWr  = prometheus.NewDesc(ns+"_node_disk_written_bytes_total", "Bytes the node process dirtied for writing to storage (/proc/PID/io write_bytes).", []string{"node"}, nil)
	descShards      = prometheus.NewDesc(ns+"_shards", "Raft groups in the cluster.", nil, nil)
	descLeaders     = prometheus.NewDesc(ns+"_shards_with_leader", "Raft groups that have a leader.", nil, nil)
	descLeaderChg   = prometheus.NewDesc(ns+"_leader_changes_total", "Leader changes seen over all shards.", nil, nil)
	descElections   = prometheus.NewDesc(ns+"_elections_total", "Leader elections: kind caused (by a fault or membership change the run made) or spontaneous.", []string{"kind"}, nil)
	descLag         = prometheus.NewDesc(ns+"_replication_lag_max_entries", "Committed entries the slowest live replica of any shard has yet to apply.", nil, nil)

	descPhase   = prometheus.NewDesc(ns+"_run_phase", "1 for the phase the run is in.", []string{"phase"}, nil)
	descSuite   = prometheus.NewDesc(ns+"_run_suite", "1 for the suite running now.", []string{"suite"}, nil)
	descEpoch   = prometheus.NewDesc(ns+"_run_epoch", "Index of the current epoch: live changes so far.", nil, nil)
	descPaused  = prometheus.NewDesc(ns+"_run_paused", "1 while the load is held by a pause.", nil, nil)
	descElapsed = prometheus.NewDesc(ns+"_run_elapsed_seconds", "Load time so far.", nil, nil)
	descPlanned = prometheus.NewDesc(ns+"_run_planned_seconds", "Load time planned for the whole run.", nil, nil)
)

var phases = []metrics.Phase{metrics.PhaseStarting, metrics.PhaseSettling, metrics.PhaseRunning, metrics.PhaseStopping, metrics.PhaseDone, metrics.PhaseFailed}

// Exporter is a prometheus.Collector over the latest snapshot. Update is
// called from the runner's tick goroutine, Collect from scrapes.
type Exporter struct {
	latest atomic.Pointer[metrics.Snapshot]
}

// Update makes s the snapshot scrapes read. It keeps s, which is immutable.
func (e *Exporter) Update(s *metrics.Snapshot) {
	if s != nil {
		e.latest.Store(s)
	}
}

// Latest returns the snapshot scrapes read, nil before the first.
func (e *Exporter) Latest() *metrics.Snapshot { return e.latest.Load() }

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOps, descErrors, descLatency, descOpsPerSec, descP99,
		descCPU, descProcCPU, descRSS, descNetRx, descNetTx, descDiskRead, descDiskWrite,
		descNodeUp, descLeaderships, descNodeCPU, descNodeRSS, descNodeQuota, descNodeThrot, descNodeNetRecv, descNodeNetSent, descNodeDiskRd, descNodeDiskWr, descShards, descLeaders, descLeaderChg, descElections, descLag,
		descPhase, descSuite, descEpoch, descPaused, descElapsed, descPlanned} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the latest snapshot's metrics.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	if s := e.latest.Load(); s != nil {
		collect(s, ch)
	}
}

func collect(s *metrics.Snapshot, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, o := range s.Ops {
		t := o.Total
		counter(descOps, float64(t.Count), o.Suite, o.Name)
		for k, n := range t.ErrorsBy {
			counter(descErrors, float64(n), o.Suite, o.Name, k)
		}
		buckets := make(map[float64]uint64, len(metrics.LatencyBounds))
		for j, b := range metrics.LatencyBounds {
			var n uint64
			if j < len(o.Buckets) {
				n = o.Buckets[j]
			}
			buckets[b.Seconds()] = n
		}
		ch <- prometheus.MustNewConstHistogram(descLatency, t.Count, o.LatencySum.Seconds(), buckets, o.Suite, o.Name)
		gauge(descOpsPerSec, o.Window.OpsPerSec, o.Suite, o.Name)
		gauge(descP99, o.Window.Latency.P99.Seconds(), o.Suite, o.Name)
	}

	sys := s.System
	for _, g := range []struct {
		d *prometheus.Desc
		g metrics.Gauge
	}{{descCPU, sys.CPU}, {descProcCPU, sys.ProcessCPU}, {descRSS, sys.RSS}, {descNetRx, sys.NetRx},
		{descNetTx, sys.NetTx}, {descDiskRead, sys.DiskRead}, {descDiskWrite, sys.DiskWrite}} {
		if g.g.OK { // a reading the machine does not offer is absent, never 0
			gauge(g.d, g.g.Value)
		}
	}

	c := s.Cluster
	for _, n := range c.Nodes {
		gauge(descNodeUp, b2f(n.Up), n.ID)
		gauge(descLeaderships, float64(n.Leaderships), n.ID)
		// A node inside phantom's process has no CPU, memory or disk of its
		// own — only its network, which the embedded cluster counts — and
		// a rate not yet measured (-1) is absent rather than 0.
		if n.HasNet {
			counter(descNodeNetRecv, float64(n.NetRecvBytes), n.ID)
			counter(descNodeNetSent, float64(n.NetSentBytes), n.ID)
		}
		if n.PID == 0 && n.RSSBytes == 0 {
			continue
		}
		if n.CPUPercent >= 0 {
			gauge(descNodeCPU, n.CPUPercent, n.ID)
		}
		gauge(descNodeRSS, float64(n.RSSBytes), n.ID)
		if n.HasDisk {
			counter(descNodeDiskRd, float64(n.DiskReadBytes), n.ID)
			counter(descNodeDiskWr, float64(n.DiskWriteBytes), n.ID)
		}
		if n.QuotaCPUs > 0 {
			gauge(descNodeQuota, n.QuotaCPUs, n.ID)
			if n.ThrottledPercent >= 0 {
				gauge(descNodeThrot, n.ThrottledPercent, n.ID)
			}
		}
	}
	var leaders int
	var lag uint64
	for _, sh := range c.Shards {
		if sh.Leader != "" {
			leaders++
		}
		lag = max(lag, sh.MaxLag)
	}
	gauge(descShards, float64(len(c.Shards)))
	gauge(descLeaders, float64(leaders))
	gauge(descLag, float64(lag))
	counter(descLeaderChg, float64(c.LeaderChanges))
	counter(descElections, float64(s.Elections.Caused), "caused")
	counter(descElections, float64(s.Elections.Spontaneous), "spontaneous")

	for _, p := range phases {
		gauge(descPhase, b2f(s.Phase == p), string(p))
	}
	if s.Suite != "" {
		gauge(descSuite, 1, s.Suite)
	}
	gauge(descEpoch, float64(len(s.Epochs)))
	gauge(descPaused, b2f(s.Paused))
	gauge(descElapsed, s.Elapsed.Seconds())
	gauge(descPlanned, s.Planned.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// CheckAddr reports whether addr is a HOST:PORT to listen on, without
// listening.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %s: want HOST:PORT, e.g. 127.0.0.1:9464 or :9464", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--metrics-addr %s: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// Server serves an Exporter's metrics on /metrics.
type Server struct {
	Exporter *Exporter
	ln       net.Listener
	srv      *http.Server
	done     chan error
}

// Listen starts serving a new Exporter's metrics at addr (HOST:PORT; port
// 0 picks a free one, see Addr).
func Listen(addr string) (*Server, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	e := &Exporter{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	s := &Server{Exporter: e, ln: ln, done: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting scrapes in progress finish for up to a
// second, and returns once it has stopped.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// ReportSchema names the JSON report's layout; it changes when a field's
// meaning changes or one is removed.
const ReportSchema = "phantom.report/v1"

// Report is the result of a run, as written to JSON.
type Report struct {
	Schema         string    `json:"schema"`
	Version        string    `json:"phantom_version"`
	Settings       any       `json:"settings"`
	StartedAt      time.Time `json:"started_at"`
	EndedAt        time.Time `json:"ended_at"`
	ElapsedSeconds float64   `json:"elapsed_s"` // load time measured
	Interrupted    bool      `json:"interrupted"`
	// Partial marks a report taken while the run was still going (see
	// suites.Runner.Report): its figures stop at EndedAt, the current
	// epoch is cut there, and baselines are judged on the load so far.
	// Unlike Interrupted, nothing stopped the run. Absent from the JSON of
	// a finished run, so those keep the v1 layout.
	Partial     bool                   `json:"partial,omitempty"`
	Error       string                 `json:"error,omitempty"`
	Suites      map[string]SuiteReport `json:"suites"`
	Baselines   []BaselineReport       `json:"baselines"`
	Violations  []EventReport          `json:"violations"`
	Resources   ResourcesReport        `json:"resources"`
	Events      []EventReport          `json:"events"`
	Cluster     ClusterReport          `json:"cluster"`
	Load        LoadReport             `json:"load"`
	Epochs      []EpochReport          `json:"epochs"`
	Scalability *ScalabilityReport     `json:"scalability"` // null when the scalability suite did not run
	// Checks are the correctness verdicts, in the order the suites ran.
	// A report written before checks existed reads as having none.
	Checks []Check `json:"checks"`
	// Bottleneck is what limited the run, tick by tick (see Diagnoser);
	// null when no tick of load was judged.
	Bottleneck *BottleneckReport `json:"bottleneck"`
	// Elections counts the leader elections of the whole run, those the
	// run caused apart from spontaneous ones; absent in reports from
	// before it was counted.
	Elections *ElectionsReport `json:"elections,omitempty"`
}

// ScalabilityReport is the sweep: throughput and efficiency at each step
// and the USL fit (null with fit_error when there is none).
// Points, Fit and FitError are the clients sweep's, as before there were
// sweeps; Sweeps has every sweep, that one included.
type ScalabilityReport struct {
	Points   []ScalePointReport `json:"points"`
	Fit      *USLReport         `json:"fit"`
	FitError string             `json:"fit_error,omitempty"`
	Sweeps   []SweepReport      `json:"sweeps,omitempty"`
	Cores    int                `json:"cores,omitempty"` // the machine's
}

// SweepReport is one sweep: "clients" (vertical) or "nodes" (horizontal).
type SweepReport struct {
	Kind     string             `json:"kind"`
	Points   []ScalePointReport `json:"points"`
	Fit      *USLReport         `json:"fit"`
	FitError string             `json:"fit_error,omitempty"`
	Bound    string             `json:"bound,omitempty"` // whether the machine's cores (or the quotas) limited it, in words
	// NodeCPUs is each node process's CPU quota over the sweep, absent
	// without one; Notes say what the figures alone would hide (steps
	// that replicate less, the run's idle nodes beside the steps).
	NodeCPUs       float64  `json:"node_cpus,omitempty"`
	ClientsPerNode int      `json:"clients_per_node,omitempty"` // the node sweep's, the same at every step
	Notes          []string `json:"notes,omitempty"`
}

// ScalePointReport is one step of the sweep.
type ScalePointReport struct {
	N          int     `json:"n"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	Efficiency float64 `json:"efficiency"`
	// Empty marks a step that measured nothing, kept out of the fit.
	Empty      bool    `json:"empty,omitempty"`
	CPUPercent float64 `json:"cpu_percent,omitempty"` // the machine's, over the step
	// The node sweep's: each shard's replicas at the step; what the
	// step's node processes used (CPUs, and percent of their quotas);
	// what the run's own, idle beside a fresh step's cluster, used; and
	// what bound the step under quotas (quotas, machine or clients).
	Replicas        int     `json:"replicas,omitempty"`
	NodesCPUs       float64 `json:"nodes_cpus,omitempty"`
	QuotaUsePercent float64 `json:"quota_use_percent,omitempty"`
	IdleNodesCPUs   float64 `json:"idle_nodes_cpus,omitempty"`
	BoundBy         string  `json:"bound_by,omitempty"`
}

// USLReport is the Universal Scalability Law fit.
type USLReport struct {
	Sigma         float64  `json:"sigma"`
	Kappa         float64  `json:"kappa"`
	Lambda        float64  `json:"lambda"`
	R2            float64  `json:"r2"`
	PeakN         *float64 `json:"peak_n"` // null when throughput never peaks (κ ≤ 0)
	PeakOpsPerSec float64  `json:"peak_ops_per_sec,omitempty"`
}

// EpochReport is one span between live changes.
type EpochReport struct {
	Index  int     `json:"index"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	Change string  `json:"change"`
	// Timeouts are the Raft timeouts in force when the epoch opened;
	// absent when unknown.
	Timeouts *TimeoutsReport     `json:"timeouts,omitempty"`
	Ops      map[string]OpReport `json:"ops"`
}

// TimeoutsReport is RaftTimeouts in milliseconds.
type TimeoutsReport struct {
	HeartbeatMs float64 `json:"heartbeat_ms"`
	ElectionMs  float64 `json:"election_ms"`
}

// LoadReport says how load was generated and, in the open loop, how well
// the schedule was kept.
type LoadReport struct {
	Model           string  `json:"model"` // "closed" or "open"
	TargetOpsPerSec float64 `json:"target_ops_per_sec,omitempty"`
	// Late counts iterations that started more than a millisecond after
	// their intended time: the system fell behind the schedule. The rate is
	// never lowered; their latency includes the wait.
	Late     uint64  `json:"late"`
	MaxLagMs float64 `json:"max_lag_ms"` // the furthest a client fell behind
}

// SuiteReport holds one suite's ops.
type SuiteReport struct {
	OpsPerSec float64             `json:"ops_per_sec"` // of its primary ops
	Ops       map[string]OpReport `json:"ops"`
	// InFlightAtEnd is how many of the suite's iterations were still
	// running when its load ended — cut short, so in no op's figures —
	// and OldestInFlightMs how long the oldest of them had run. Absent
	// for a suite that had not ended.
	InFlightAtEnd    *int     `json:"in_flight_at_end,omitempty"`
	OldestInFlightMs *float64 `json:"oldest_in_flight_ms,omitempty"`
	// Elections are the leader elections during the suite's load, caused
	// and spontaneous.
	Elections *ElectionsReport `json:"elections,omitempty"`
}

// OpReport is one op's figures over the whole run. Count is successful
// completions, Errors failed attempts; ops_per_sec is count over elapsed_s.
type OpReport struct {
	Count        uint64            `json:"count"`
	Errors       uint64            `json:"errors"`
	ErrorsByKind map[string]uint64 `json:"errors_by_kind,omitempty"`
	// ErrorSamples are, by error kind, the text of one of the op's errors:
	// what failed, in the database's words.
	ErrorSamples   map[string]string `json:"error_samples,omitempty"`
	OpsPerSec      float64           `json:"ops_per_sec"`
	ElapsedSeconds float64           `json:"elapsed_s"`
	LatencyMs      LatencyMs         `json:"latency_ms"`
	// ServiceLatencyMs is set in the open loop, where latency_ms counts
	// from each op's intended start and this from its actual start.
	ServiceLatencyMs *LatencyMs `json:"service_latency_ms,omitempty"`
	// Phases are where the op's time went, by phase name (phases.go);
	// absent for an op without phases.
	Phases map[string]PhaseReport `json:"phases,omitempty"`
	// Series is the op's figures over time and LatencySpectrum its
	// latency at percentiles from 0 to 100, for the charts (chartdata.go);
	// absent in an epoch's ops and in reports from before them.
	Series          *SeriesReport         `json:"series,omitempty"`
	LatencySpectrum []SpectrumPointReport `json:"latency_spectrum,omitempty"`
}

// LatencyMs is Latency in milliseconds.
type LatencyMs struct {
	Avg  float64 `json:"avg"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// BaselineReport is one final verdict.
type BaselineReport struct {
	Suite  string  `json:"suite"`
	Op     string  `json:"op,omitempty"`
	Metric string  `json:"metric"`
	Limit  float64 `json:"limit"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Pass   bool    `json:"pass"`
}

// EventReport is an event; violation and recovered events carry the op,
// metric, value and limit.
type EventReport struct {
	AtSeconds float64 `json:"at_s"`
	Kind      string  `json:"kind"`
	Message   string  `json:"message"`
	Suite     string  `json:"suite,omitempty"`
	Op        string  `json:"op,omitempty"`
	Metric    string  `json:"metric,omitempty"`
	Value     float64 `json:"value,omitempty"`
	Limit     float64 `json:"limit,omitempty"`
	Unit      string  `json:"unit,omitempty"`
}

// StatReport is a gauge's average and maximum; null when never sampled.
type StatReport struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
}

// ResourcesReport summarises the system gauges.
type ResourcesReport struct {
	CPU struct {
		MachinePercent *StatReport `json:"machine_percent"`
		ProcessPercent *StatReport `json:"process_percent"`
	} `json:"cpu"`
	Memory struct {
		RSSBytes  *StatReport `json:"rss_bytes"`
		UsedBytes *StatReport `json:"used_bytes"`
	} `json:"memory"`
	Network struct {
		RxBytesPerSec *StatReport `json:"rx_bytes_per_sec"`
		TxBytesPerSec *StatReport `json:"tx_bytes_per_sec"`
	} `json:"network"`
	Disk struct {
		ReadBytesPerSec  *StatReport `json:"read_bytes_per_sec"`
		WriteBytesPerSec *StatReport `json:"write_bytes_per_sec"`
	} `json:"disk"`
	// Series is the gauges over time, for the charts; Nodes each
	// node's, when the cluster's nodes have resources of their own.
	// Absent when not sampled.
	Series *ResourceSeriesReport `json:"series,omitempty"`
	Nodes  []NodeResourcesReport `json:"nodes,omitempty"`
}

// ClusterReport is the cluster at the end of the run.
type ClusterReport struct {
	Nodes         int    `json:"nodes"`
	Shards        int    `json:"shards"`
	LeaderChanges uint64 `json:"leader_changes"`
	// Mode is where the nodes ran: embedded, processes or join=....
	Mode string `json:"mode"`
	// NodeLogs are the node processes of processes mode, each with its
	// log file (a node restarted shows once per process), or the nodes
	// join mode drove (without logs, which live where they run).
	NodeLogs []NodeProcessReport `json:"node_logs,omitempty"`
	// NodeResources is each node process's CPU (percent of one core),
	// resident memory, network and disk over the run's load, in processes
	// and join modes; in embedded mode each node's network alone (pid 0,
	// cpu_samples 0, no rss or disk figures: they are phantom's, shared).
	NodeResources []NodeResourceReport `json:"node_resources,omitempty"`
	// NodeExits are the node processes that exited on their own — not a
	// fault the run made (those are its events and fault counts) — in
	// order: the OOM killer, an operator's kill, a panic. The cluster
	// took each for a crash; the elections after it count as spontaneous.
	NodeExits []NodeExitReport `json:"node_exits,omitempty"`
	// Emulated says the nodes ran on this one machine, each process under
	// a CPU quota (--node-cpus) standing in for a machine of its own;
	// CPUQuota states the quota and how it was set.
	Emulated bool   `json:"emulated,omitempty"`
	CPUQuota string `json:"cpu_quota,omitempty"`
}

// NodeResourceReport is what one node's process used over the load (the
// last process, for a node restarted).
type NodeResourceReport struct {
	ID            string  `json:"id"`
	PID           int     `json:"pid"`
	CPUAvgPercent float64 `json:"cpu_avg_percent,omitempty"`
	CPUMaxPercent float64 `json:"cpu_max_percent,omitempty"`
	// CPUSamples counts the ticks the CPU figures come from: 0 for a node
	// seen at one tick only (added at the end), whose CPU is unknown, and
	// for an embedded node, which has no CPU of its own; the figures are
	// left out then (and read 0).
	CPUSamples int `json:"cpu_samples"`
	// RSS*Bytes are left out for a node with no process of its own (an
	// embedded one): a process's resident memory is never 0.
	RSSAvgBytes uint64 `json:"rss_avg_bytes,omitempty"`
	RSSMaxBytes uint64 `json:"rss_max_bytes,omitempty"`
	// QuotaCPUs is the CPU quota the process ran under (--node-cpus), 0
	// for none. Throttled*Percent are, of the scheduling periods in which
	// it wanted CPU, the share in which it ran out of quota and waited,
	// over ThrottledSamples ticks.
	QuotaCPUs           float64 `json:"quota_cpus,omitempty"`
	ThrottledAvgPercent float64 `json:"throttled_avg_percent,omitempty"`
	ThrottledMaxPercent float64 `json:"throttled_max_percent,omitempty"`
	ThrottledSamples    int     `json:"throttled_samples,omitempty"`
	// Net*BytesPerSec are the process's network, received and sent (its
	// Raft links and its API, as the node counts them), over NetSamples
	// ticks; Disk*BytesPerSec its disk reads and writes (/proc/PID/io) over
	// DiskSamples ticks. A figure over no samples (0) was not measured;
	// the disk figures are left out then. An embedded node's network is
	// its Raft links' bytes, as the cluster's simulated network counts
	// them; it has no disk figures (phantom's process writes for all).
	NetRecvAvgBytesPerSec   float64 `json:"net_recv_avg_bytes_per_sec"`
	NetRecvMaxBytesPerSec   float64 `json:"net_recv_max_bytes_per_sec"`
	NetSentAvgBytesPerSec   float64 `json:"net_sent_avg_bytes_per_sec"`
	NetSentMaxBytesPerSec   float64 `json:"net_sent_max_bytes_per_sec"`
	NetSamples              int     `json:"net_samples,omitempty"`
	DiskReadAvgBytesPerSec  float64 `json:"disk_read_avg_bytes_per_sec,omitempty"`
	DiskReadMaxBytesPerSec  float64 `json:"disk_read_max_bytes_per_sec,omitempty"`
	DiskWriteAvgBytesPerSec float64 `json:"disk_write_avg_bytes_per_sec,omitempty"`
	DiskWriteMaxBytesPerSec float64 `json:"disk_write_max_bytes_per_sec,omitempty"`
	DiskSamples             int     `json:"disk_samples,omitempty"`
}

// NodeExitReport is a node process that exited on its own.
type NodeExitReport struct {
	ID  string `json:"id"`
	PID int    `json:"pid"`
	// Reason is how it ended, as the OS says: "signal: killed".
	Reason string    `json:"reason"`
	Log    string    `json:"log,omitempty"`
	At     time.Time `json:"at"`
	// AtS is when, in seconds since the load started (negative before).
	AtS float64 `json:"at_s"`
}

// NodeProcessReport is one node process.
type NodeProcessReport struct {
	ID   string `json:"id"`
	PID  int    `json:"pid"`
	Addr string `json:"addr"`
	Log  string `json:"log,omitempty"`
}

// Passed reports whether every final baseline held.
func (r *Report) Passed() bool {
	for _, b := range r.Baselines {
		if !b.Pass {
			return false
		}
	}
	return true
}

// NewReport builds the figures part of a report from the run's last
// snapshot, its final verdicts and its resource summary; the caller fills
// in the settings, times and outcome.
func NewReport(last *Snapshot, final []Verdict, res Resources) *Report {
	r := &Report{
		Schema:         ReportSchema,
		ElapsedSeconds: last.Elapsed.Seconds(),
		Suites:         map[string]SuiteReport{},
		Baselines:      []BaselineReport{},
		Violations:     []EventReport{},
		Events:         []EventReport{},
		Checks:         append([]Check{}, last.Checks...),
		Bottleneck:     last.Bottlenecks.Report(),
	}
	for _, o := range last.Ops {
		s, ok := r.Suites[o.Suite]
		if !ok {
			s = SuiteReport{Ops: map[string]OpReport{}}
		}
		t := o.Total
		or := opReport(t)
		or.ErrorSamples = o.ErrorSamples
		or.Phases = phaseReports(o)
		or.Series = seriesReport(o.Series)
		or.LatencySpectrum = spectrumReport(o.Spectrum)
		s.Ops[o.Name] = or
		if o.Primary {
			s.OpsPerSec += t.OpsPerSec
		}
		r.Suites[o.Suite] = s
	}
	for _, e := range last.SuiteEnds {
		s, ok := r.Suites[e.Suite]
		if !ok {
			s = SuiteReport{Ops: map[string]OpReport{}}
		}
		n, oldest := e.InFlight.Ops, float64(e.InFlight.Oldest)/float64(time.Millisecond)
		s.InFlightAtEnd, s.OldestInFlightMs = &n, &oldest
		r.Suites[e.Suite] = s
	}
	for _, e := range last.SuiteElections {
		s, ok := r.Suites[e.Suite]
		if !ok {
			s = SuiteReport{Ops: map[string]OpReport{}}
		}
		s.Elections = electionsReport(e.Elections)
		r.Suites[e.Suite] = s
	}
	if e := last.Elections; e.Caused+e.Spontaneous > 0 || e.Over > 0 {
		r.Elections = electionsReport(e)
	}
	for _, v := range final {
		r.Baselines = append(r.Baselines, BaselineReport(v))
	}
	for _, e := range last.Events {
		er := EventReport{AtSeconds: e.At.Seconds(), Kind: string(e.Kind), Message: e.Message,
			Suite: e.Suite, Op: e.Op, Metric: e.Metric, Value: e.Value, Limit: e.Limit, Unit: e.Unit}
		r.Events = append(r.Events, er)
		if e.Kind == EventViolation {
			r.Violations = append(r.Violations, er)
		}
	}
	stat := func(s Stat) *StatReport {
		if s.N == 0 {
			return nil
		}
		return &StatReport{Avg: s.Avg, Max: s.Max}
	}
	r.Resources.CPU.MachinePercent = stat(res.CPU)
	r.Resources.CPU.ProcessPercent = stat(res.ProcessCPU)
	r.Resources.Memory.RSSBytes = stat(res.RSS)
	r.Resources.Memory.UsedBytes = stat(res.MemUsed)
	r.Resources.Network.RxBytesPerSec = stat(res.NetRx)
	r.Resources.Network.TxBytesPerSec = stat(res.NetTx)
	r.Resources.Disk.ReadBytesPerSec = stat(res.DiskRead)
	r.Resources.Disk.WriteBytesPerSec = stat(res.DiskWrite)
	r.Resources.Series = resourceSeriesReport(last.SystemSeries)
	if sc := last.Scalability; sc != nil {
		sr := &ScalabilityReport{FitError: sc.FitError, Points: pointReports(sc.Points, 0), Fit: uslReport(sc.Fit), Cores: sc.Cores}
		for _, sw := range sc.Sweeps {
			sr.Sweeps = append(sr.Sweeps, SweepReport{Kind: sw.Kind, Points: pointReports(sw.Points, sw.NodeCPUs), Fit: uslReport(sw.Fit), FitError: sw.FitError, Bound: sw.Bound,
				NodeCPUs: sw.NodeCPUs, ClientsPerNode: sw.ClientsPerNode, Notes: sw.Notes})
		}
		r.Scalability = sr
	}
	r.Epochs = []EpochReport{}
	for _, e := range last.Epochs {
		er := EpochReport{Index: e.Index, StartS: e.Start.Seconds(), EndS: e.End.Seconds(), Change: e.Change, Ops: map[string]OpReport{}}
		if t := e.Timeouts; t != (RaftTimeouts{}) {
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			er.Timeouts = &TimeoutsReport{HeartbeatMs: ms(t.Heartbeat), ElectionMs: ms(t.Election)}
		}
		for _, o := range e.Ops {
			er.Ops[o.Name] = opReport(o.Figures)
		}
		r.Epochs = append(r.Epochs, er)
	}
	r.Load = LoadReport{Model: "closed", Late: last.Load.Late, MaxLagMs: float64(last.Load.MaxLag) / float64(time.Millisecond)}
	if last.Load.TargetRate > 0 {
		r.Load.Model, r.Load.TargetOpsPerSec = "open", last.Load.TargetRate
	}
	r.Cluster = ClusterReport{Nodes: len(last.Cluster.Nodes), Shards: len(last.Cluster.Shards), LeaderChanges: last.Cluster.LeaderChanges}
	return r
}

func pointReports(ps []ScalePoint, quota float64) []ScalePointReport {
	var out []ScalePointReport
	for _, p := range ps {
		out = append(out, ScalePointReport{N: p.N, OpsPerSec: p.OpsPerSec, Efficiency: p.Efficiency, Empty: p.Empty, CPUPercent: p.CPU,
			Replicas: p.Replicas, NodesCPUs: p.NodesCPU, QuotaUsePercent: p.QuotaUse(quota), IdleNodesCPUs: p.IdleCPU, BoundBy: p.BoundBy})
	}
	return out
}

func uslReport(f *USL) *USLReport {
	if f == nil {
		return nil
	}
	u := &USLReport{Sigma: f.Sigma, Kappa: f.Kappa, Lambda: f.Lambda, R2: f.R2, PeakOpsPerSec: f.PeakOpsPerSec}
	if !math.IsInf(f.PeakN, 0) {
		peak := f.PeakN
		u.PeakN = &peak
	}
	return u
}

func opReport(t Figures) OpReport {
	op := OpReport{
		Count: t.Count, Errors: t.Errors, ErrorsByKind: t.ErrorsBy,
		OpsPerSec: t.OpsPerSec, ElapsedSeconds: t.Elapsed.Seconds(), LatencyMs: latencyMs(t.Latency),
	}
	if t.Service != nil {
		svc := latencyMs(*t.Service)
		op.ServiceLatencyMs = &svc
	}
	return op
}

func latencyMs(l Latency) LatencyMs {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return LatencyMs{Avg: ms(l.Avg), Min: ms(l.Min), Max: ms(l.Max), P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), P999: ms(l.P999)}
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFileAtomic writes a file through a temporary file in the same
// directory and renames it into place, so a reader never sees half a report
// and an interrupted write leaves the old file intact.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	f, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Commit()
}

// AtomicFile is a file being written under a temporary name; Commit puts
// it in place, Abort throws it away. For files written over a whole run,
// such as the CSV series.
//
// A path that names something other than a regular file — a device such
// as /dev/stdout or /dev/full, a named pipe — is written in place: a
// rename would replace the device with a file and hide every write error
// behind it. Such a path has no old contents to keep.
type AtomicFile struct {
	*os.File
	path   string
	direct bool // written in place: path is not a regular file
	done   bool
}

// CreateAtomic starts writing path atomically. A symbolic link is followed,
// so the file it points to is replaced, not the link.
func CreateAtomic(path string) (*AtomicFile, error) {
	target := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		target = real
	}
	if fi, err := os.Stat(target); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("cannot write %s: it is a directory", path)
		}
		f, err := os.OpenFile(target, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot write %s: %w", path, err)
		}
		return &AtomicFile{File: f, path: path, direct: true}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &AtomicFile{File: f, path: target}, nil
}

// Commit syncs the file and renames it to its final name; a file written
// in place is only closed, and its close error returned.
func (a *AtomicFile) Commit() error {
	if a.done {
		return nil
	}
	a.done = true
	if a.direct {
		if err := a.Close(); err != nil {
			return fmt.Errorf("cannot write %s: %w", a.path, err)
		}
		return nil
	}
	tmp := a.Name()
	defer os.Remove(tmp) // a no-op after the rename
	err := a.Sync()
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", a.path, err)
	}
	return nil
}

// Abort closes and removes the temporary file; a file written in place is
// only closed.
func (a *AtomicFile) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.Close()
	if !a.direct {
		os.Remove(a.Name())
	}
}

// ReadReport reads a JSON report written by phantom; anything else is an
// error that says so.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read report %s: %w", path, errors.Unwrap(err))
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil || r.Schema == "" {
		return nil, fmt.Errorf("%s is not a phantom report (expected JSON with \"schema\": %q)", path, ReportSchema)
	}
	if r.Schema != ReportSchema {
		return nil, fmt.Errorf("%s has report schema %q; this phantom reads %q", path, r.Schema, ReportSchema)
	}
	return &r, nil
}

// namedOp is one op of a report with its suite and name.
type namedOp struct {
	Suite, Name string
	OpReport
}

// sortedOps returns every op of the report, by suite then name.
func sortedOps(r *Report) []namedOp {
	var out []namedOp
	for _, s := range sortedSuites(r) {
		for n, o := range r.Suites[s].Ops {
			out = append(out, namedOp{s, n, o})
		}
		tail := out[len(out)-len(r.Suites[s].Ops):]
		sort.Slice(tail, func(i, j int) bool { return tail[i].Name < tail[j].Name })
	}
	return out
}

// sortedSuites returns the report's suite names in a stable order.
func sortedSuites(r *Report) []string {
	names := make([]string, 0, len(r.Suites))
	for n := range r.Suites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

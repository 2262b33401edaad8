package metrics

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Signals are what the bottleneck rules read at one tick: cheap gauges of
// the machine, the Go runtime and the cluster. A Gauge that is not OK is
// not measured and fires no rule.
type Signals struct {
	CPU, ProcessCPU Gauge   // percent of all cores
	SchedP99        Gauge   // seconds
	GCCPU           Gauge   // percent of the process's CPU
	Heap, RSS       Gauge   // bytes
	Budget          float64 // the memory budget, bytes; 0 when unknown
	NetRx, NetTx    Gauge   // bytes per second
	Disk            bool    // the cluster stores its logs on disk (fsync)
	DiskBusy        Gauge   // percent
	DiskWriteWait   Gauge   // seconds per write
	ReplLag         uint64  // committed entries the slowest replica of any shard has yet to apply
	Uncommitted     uint64  // entries shard leaders hold uncommitted, summed: appends in flight
	// ElectionsPerMin is the rate of leader elections over the last
	// minute; Spontaneous says it counts only those no fault caused.
	ElectionsPerMin Gauge
	Spontaneous     bool
	// HotNode is the node whose own process used the most CPU at the tick,
	// HotNodeCPU that in percent of one core: processes mode only, "" else.
	HotNode    string
	HotNodeCPU float64
	// NetNode is the node that moved the most bytes over the network at
	// the tick (received or sent, whichever is more), NetNodeBps that
	// rate: its process's Raft and API bytes in processes and join mode,
	// its Raft links' in the embedded cluster; "" before a rate.
	NetNode    string
	NetNodeBps float64
	// Loopback says the cluster's traffic never leaves the machine (the
	// embedded cluster, node processes on 127.0.0.1): its bytes are
	// copies made by the same cores, so they are how a CPU shortage
	// shows, not a resource of their own (see Diagnose).
	Loopback bool
}

// Thresholds are where each rule fires.
type Thresholds struct {
	CPU             float64       // percent, machine or process
	SchedP99        time.Duration // a goroutine waiting this long for a thread
	HeartbeatsLate  time.Duration // a wait this long makes a 50 ms heartbeat late
	GCCPU           float64       // percent
	HeapShare       float64       // heap over budget, 0..1
	NetBytes        float64       // bytes per second, either direction
	DiskBusy        float64       // percent
	DiskWriteWait   time.Duration // per write
	ReplLag         uint64        // entries
	Uncommitted     uint64        // entries
	ElectionsPerMin float64
}

// DefaultThresholds are the thresholds phantom judges with. The network's
// is loopback's: a machine moving a GiB a second between its own nodes
// spends its cores on copies.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CPU: 90, SchedP99: 5 * time.Millisecond, HeartbeatsLate: 10 * time.Millisecond, GCCPU: 25,
		HeapShare: 0.85, NetBytes: 1 << 30, DiskBusy: 80, DiskWriteWait: 20 * time.Millisecond,
		ReplLag: 1000, Uncommitted: 1000, ElectionsPerMin: 3,
	}
}

// Resource is what a rule blames; the first few are resources a run runs
// out of (a root cause), the rest what their shortage looks like from
// inside the cluster (symptoms), which lead the line only when no root
// cause fires.
type Resource uint8

const (
	ResourceCPU Resource = iota
	ResourceMemory
	ResourceGC
	ResourceDisk
	ResourceNetwork
	ResourceScheduler
	ResourceReplication
	ResourceElections
	numResources
	// ResourceNone is the verdict when no rule fires.
	ResourceNone Resource = numResources
)

var resourceNames = [...]string{"cpu", "memory", "gc", "disk", "network", "scheduler", "replication", "elections", "none"}

var resourceVerdicts = [...]string{"CPU-bound", "memory-bound", "GC-bound", "disk-bound", "network-bound",
	"scheduler-bound", "replication-bound", "leadership unstable", "no bottleneck"}

// String is the resource's short name, as the report's JSON writes it.
func (r Resource) String() string { return resourceNames[min(int(r), len(resourceNames)-1)] }

// Verdict is the resource as the line says it: "CPU-bound".
func (r Resource) Verdict() string { return resourceVerdicts[min(int(r), len(resourceVerdicts)-1)] }

func (r Resource) root() bool { return r < ResourceScheduler }

// finding is one rule that fired: how far past its threshold (≥ 1) and
// what it saw, in words.
type finding struct {
	score    float64
	evidence string
}

// rule judges one resource. Rules are pure: the same signals give the same
// finding.
type rule func(s Signals, t Thresholds) (finding, bool)

var rules = [numResources]rule{
	ResourceCPU:         cpuRule,
	ResourceMemory:      memoryRule,
	ResourceGC:          gcRule,
	ResourceDisk:        diskRule,
	ResourceNetwork:     networkRule,
	ResourceScheduler:   schedRule,
	ResourceReplication: replicationRule,
	ResourceElections:   electionsRule,
}

func cpuRule(s Signals, t Thresholds) (finding, bool) {
	var f finding
	if s.CPU.OK && s.CPU.Value >= t.CPU {
		f = finding{s.CPU.Value / t.CPU, fmt.Sprintf("%.0f%% CPU", s.CPU.Value)}
	}
	if s.ProcessCPU.OK && s.ProcessCPU.Value >= t.CPU && s.ProcessCPU.Value/t.CPU > f.score {
		f = finding{s.ProcessCPU.Value / t.CPU, fmt.Sprintf("phantom %.0f%% CPU", s.ProcessCPU.Value)}
	}
	if f.score > 0 && s.HotNode != "" {
		f.evidence += fmt.Sprintf(" (hottest node %s, %.0f%% of a core)", s.HotNode, s.HotNodeCPU)
	}
	return f, f.score > 0
}

func memoryRule(s Signals, t Thresholds) (finding, bool) {
	if s.Budget <= 0 {
		return finding{}, false
	}
	var f finding
	if s.Heap.OK && s.Heap.Value >= t.HeapShare*s.Budget {
		f = finding{s.Heap.Value / (t.HeapShare * s.Budget), fmt.Sprintf("heap %s of %s budget", FormatBytes(s.Heap.Value), FormatBytes(s.Budget))}
	}
	if s.RSS.OK && s.RSS.Value >= s.Budget && s.RSS.Value/s.Budget > f.score {
		f = finding{s.RSS.Value / s.Budget, fmt.Sprintf("RSS %s over %s budget", FormatBytes(s.RSS.Value), FormatBytes(s.Budget))}
	}
	return f, f.score > 0
}

func gcRule(s Signals, t Thresholds) (finding, bool) {
	if !s.GCCPU.OK || s.GCCPU.Value < t.GCCPU {
		return finding{}, false
	}
	return finding{s.GCCPU.Value / t.GCCPU, fmt.Sprintf("GC %.0f%% of CPU", s.GCCPU.Value)}, true
}

func diskRule(s Signals, t Thresholds) (finding, bool) {
	if !s.Disk {
		return finding{}, false
	}
	var f finding
	var parts []string
	if s.DiskBusy.OK && s.DiskBusy.Value >= t.DiskBusy {
		f.score = s.DiskBusy.Value / t.DiskBusy
		parts = append(parts, fmt.Sprintf("disk %.0f%% busy", s.DiskBusy.Value))
	}
	if w := s.DiskWriteWait; w.OK && w.Value >= t.DiskWriteWait.Seconds() {
		f.score = max(f.score, w.Value/t.DiskWriteWait.Seconds())
		parts = append(parts, "writes wait "+FormatDuration(seconds(w.Value)))
	}
	f.evidence = strings.Join(parts, ", ")
	return f, f.score > 0
}

func networkRule(s Signals, t Thresholds) (finding, bool) {
	var top float64
	if s.NetRx.OK {
		top = s.NetRx.Value
	}
	if s.NetTx.OK {
		top = max(top, s.NetTx.Value)
	}
	// One node moving more than the threshold alone is network-bound
	// too, even where the machine's gauges are not read.
	node := s.NetNode != "" && s.NetNodeBps > top
	if node {
		top = s.NetNodeBps
	}
	if top < t.NetBytes || t.NetBytes <= 0 {
		return finding{}, false
	}
	net := "network"
	if s.Loopback {
		net = "loopback"
	}
	f := finding{top / t.NetBytes, net + " " + FormatBytes(top) + "/s"}
	switch {
	case node:
		f.evidence = "node " + s.NetNode + " " + net + " " + FormatBytes(top) + "/s"
	case s.NetNode != "":
		f.evidence += fmt.Sprintf(" (busiest node %s, %s/s)", s.NetNode, FormatBytes(s.NetNodeBps))
	}
	return f, true
}

func schedRule(s Signals, t Thresholds) (finding, bool) {
	if !s.SchedP99.OK || s.SchedP99.Value < t.SchedP99.Seconds() {
		return finding{}, false
	}
	ev := "scheduler p99 " + FormatDuration(seconds(s.SchedP99.Value))
	if s.SchedP99.Value >= t.HeartbeatsLate.Seconds() {
		ev += " — heartbeats late"
	}
	return finding{s.SchedP99.Value / t.SchedP99.Seconds(), ev}, true
}

func replicationRule(s Signals, t Thresholds) (finding, bool) {
	var f finding
	var parts []string
	if t.ReplLag > 0 && s.ReplLag >= t.ReplLag {
		f.score = float64(s.ReplLag) / float64(t.ReplLag)
		parts = append(parts, "replicas trail by "+FormatCount(float64(s.ReplLag))+" entries")
	}
	if t.Uncommitted > 0 && s.Uncommitted >= t.Uncommitted {
		f.score = max(f.score, float64(s.Uncommitted)/float64(t.Uncommitted))
		parts = append(parts, FormatCount(float64(s.Uncommitted))+" appends in flight")
	}
	f.evidence = strings.Join(parts, ", ")
	return f, f.score > 0
}

func electionsRule(s Signals, t Thresholds) (finding, bool) {
	if !s.ElectionsPerMin.OK || s.ElectionsPerMin.Value < t.ElectionsPerMin {
		return finding{}, false
	}
	what := "elections/min"
	if s.Spontaneous {
		what = "spontaneous elections/min"
	}
	return finding{s.ElectionsPerMin.Value / t.ElectionsPerMin, fmt.Sprintf("%.0f %s", s.ElectionsPerMin.Value, what)}, true
}

func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// Bottleneck is the verdict at one tick: the resource that limits the run
// (ResourceNone when no rule fired), every rule that fired as a bit set,
// how far past its threshold the leading one is, and the line that says
// it in words.
type Bottleneck struct {
	Resource Resource
	Fired    uint16  // bit r set: rule r fired
	Score    float64 // the leading rule's signal over its threshold
	Severity float64 // the sum of every fired rule's: how much is wrong at once
	Line     string
}

// FiredNames are the resources whose rules fired, in rule order.
func (b Bottleneck) FiredNames() []string {
	var out []string
	for r := Resource(0); r < numResources; r++ {
		if b.Fired&(1<<r) != 0 {
			out = append(out, r.String())
		}
	}
	return out
}

// Diagnose runs every rule over s. The leading finding is the root cause
// that fired furthest past its threshold, or failing any, the symptom
// that did; the line names it and then gives the evidence of every rule
// that fired, leader first: "CPU-bound: 98% CPU, scheduler p99 14ms —
// heartbeats late, 3 spontaneous elections/min". With no rule fired it
// says what headroom there is.
//
// Over loopback the network is a symptom, not a root cause: a GiB a
// second between nodes on one machine is the cores copying it, so when
// the CPU rule fires too the line blames the CPU and gives the bytes as
// evidence ("CPU-bound: 97% CPU, loopback 1.30GiB/s"). At 1 MiB values
// the bytes passed their threshold by more than the CPU did, and the
// line said network-bound on a machine with no network to speak of.
func Diagnose(s Signals, t Thresholds) Bottleneck {
	var found [numResources]finding
	b := Bottleneck{Resource: ResourceNone}
	root := func(r Resource) bool { return r.root() && !(r == ResourceNetwork && s.Loopback) }
	for r := Resource(0); r < numResources; r++ {
		f, ok := rules[r](s, t)
		if !ok {
			continue
		}
		found[r] = f
		b.Fired |= 1 << r
		b.Severity += f.score
		if b.Resource == ResourceNone || (root(r) && !root(b.Resource)) || (root(r) == root(b.Resource) && f.score > b.Score) {
			b.Resource, b.Score = r, f.score
		}
	}
	if b.Resource == ResourceNone {
		b.Line = "no bottleneck: " + headroom(s)
		return b
	}
	parts := []string{found[b.Resource].evidence}
	for r := Resource(0); r < numResources; r++ {
		if r != b.Resource && b.Fired&(1<<r) != 0 {
			parts = append(parts, found[r].evidence)
		}
	}
	b.Line = b.Resource.Verdict() + ": " + strings.Join(parts, ", ")
	return b
}

// headroom is what a run with no bottleneck has to spare.
func headroom(s Signals) string {
	var parts []string
	if s.CPU.OK {
		parts = append(parts, fmt.Sprintf("%.0f%% CPU", s.CPU.Value))
	}
	if s.SchedP99.OK {
		parts = append(parts, "scheduler p99 "+FormatDuration(seconds(s.SchedP99.Value)))
	}
	if s.Heap.OK && s.Budget > 0 {
		parts = append(parts, fmt.Sprintf("heap %.0f%% of budget", 100*s.Heap.Value/s.Budget))
	}
	if len(parts) == 0 {
		return "no gauge read yet"
	}
	return strings.Join(parts, ", ")
}

// ElectionWindow is how far back the election rate looks, and
// minElectionSpan the least time it divides by, so the first election of
// a short run is not a storm.
const (
	ElectionWindow  = time.Minute
	minElectionSpan = 30 * time.Second
)

// Diagnoser turns each snapshot into a Bottleneck and keeps the tally of
// verdicts over the run for the report. One goroutine (the runner's)
// calls Observe.
type Diagnoser struct {
	thresholds Thresholds
	budget     float64
	disk       bool
	loopback   bool
	// Leader elections seen at each tick, a ring over ElectionWindow.
	elections []electionMark
	last      Bottleneck
	tally     BottleneckTally
}

type electionMark struct {
	at    time.Duration
	count uint64
}

// NewDiagnoser judges a run with a memory budget of budget bytes, whose
// cluster keeps its logs on disk when disk is true.
func NewDiagnoser(budget int64, disk bool) *Diagnoser {
	return &Diagnoser{thresholds: DefaultThresholds(), budget: float64(budget), disk: disk}
}

// OnLoopback tells d that the cluster's nodes all run on this machine, so
// that their traffic is loopback's (see Signals.Loopback). Call it before
// the first Observe.
func (d *Diagnoser) OnLoopback(on bool) { d.loopback = on }

// SignalsOf reads the signals of a snapshot; the election rate needs the
// Diagnoser's memory of earlier ticks.
func (d *Diagnoser) SignalsOf(s *Snapshot) Signals {
	sys := s.System
	sig := Signals{CPU: sys.CPU, ProcessCPU: sys.ProcessCPU, SchedP99: sys.SchedP99, GCCPU: sys.GCCPU,
		Heap: sys.Heap, RSS: sys.RSS, Budget: d.budget, NetRx: sys.NetRx, NetTx: sys.NetTx,
		Disk: d.disk, DiskBusy: sys.DiskBusy, DiskWriteWait: sys.DiskWriteWait, Loopback: d.loopback}
	for _, sh := range s.Cluster.Shards {
		sig.ReplLag = max(sig.ReplLag, sh.MaxLag)
		sig.Uncommitted += sh.Uncommitted
	}
	for _, n := range s.Cluster.Nodes {
		if n.PID > 0 && n.Up && n.CPUPercent > sig.HotNodeCPU {
			sig.HotNode, sig.HotNodeCPU = n.ID, n.CPUPercent
		}
		if bps := max(n.NetRecvBps, n.NetSentBps); n.HasNet && n.Up && bps > sig.NetNodeBps {
			sig.NetNode, sig.NetNodeBps = n.ID, bps
		}
	}
	// Elections a fault or a membership change caused are the experiment,
	// not a bottleneck: only spontaneous ones count.
	count := uint64(s.Elections.Spontaneous)
	sig.Spontaneous = true
	d.elections = append(d.elections, electionMark{s.Elapsed, count})
	cut := 0
	for cut < len(d.elections)-1 && s.Elapsed-d.elections[cut+1].at >= ElectionWindow {
		cut++
	}
	if cut > 0 {
		d.elections = append(d.elections[:0], d.elections[cut:]...)
	}
	if first := d.elections[0]; len(d.elections) > 1 {
		span := max(s.Elapsed-first.at, minElectionSpan)
		n := count - min(first.count, count)
		sig.ElectionsPerMin = gauge(float64(n)*float64(time.Minute)/float64(span), true)
	}
	return sig
}

// Observe diagnoses s and, for a tick of load (running, not paused),
// counts its verdict; it returns the verdict and the tally so far. Out
// of load it returns the last verdict again.
func (d *Diagnoser) Observe(s *Snapshot) (Bottleneck, BottleneckTally) {
	if s.Phase != PhaseRunning || s.Paused {
		return d.last, d.tally
	}
	d.last = Diagnose(d.SignalsOf(s), d.thresholds)
	d.tally.add(d.last, s.Elapsed)
	return d.last, d.tally
}

// BottleneckTally counts the verdicts of a run's ticks. It is a value with
// no pointers: a snapshot holds a copy.
type BottleneckTally struct {
	Ticks int
	// By verdict: the ticks it led, and in those, the ticks each rule fired.
	Led   [numResources + 1]int
	Fired [numResources + 1][numResources]int
	// Worst is the verdict of the tick with the most wrong (the highest
	// Severity), and when.
	Worst   Bottleneck
	WorstAt time.Duration
}

func (t *BottleneckTally) add(b Bottleneck, at time.Duration) {
	t.Ticks++
	t.Led[b.Resource]++
	for r := Resource(0); r < numResources; r++ {
		if b.Fired&(1<<r) != 0 {
			t.Fired[b.Resource][r]++
		}
	}
	if b.Resource != ResourceNone && (t.Worst.Line == "" || b.Severity > t.Worst.Severity) {
		t.Worst, t.WorstAt = b, at
	}
}

// BottleneckReport is the bottleneck verdicts over a run.
type BottleneckReport struct {
	Ticks int `json:"ticks"` // ticks of load judged
	// MostFrequent is the verdict that led the most ticks ("none" when no
	// rule fired most of the time).
	MostFrequent string           `json:"most_frequent"`
	Worst        *BottleneckWorst `json:"worst"` // null when no rule ever fired
	// Verdicts are every verdict that led a tick, the most frequent first,
	// with the rules that fired in its ticks.
	Verdicts []BottleneckVerdict `json:"verdicts"`
	// NotMeasured names the signals phantom does not read, and what it
	// reads instead.
	NotMeasured []string `json:"not_measured"`
}

// BottleneckWorst is the tick with the most wrong at once: the highest sum
// of every fired rule's signal over its threshold.
type BottleneckWorst struct {
	AtSeconds float64  `json:"at_s"`
	Resource  string   `json:"resource"`
	Severity  float64  `json:"severity"`
	Line      string   `json:"line"`
	Signals   []string `json:"signals"`
}

// BottleneckVerdict is one verdict's share of the run.
type BottleneckVerdict struct {
	Resource string         `json:"resource"`
	Verdict  string         `json:"verdict"`
	Ticks    int            `json:"ticks"`
	Share    float64        `json:"share"`
	Signals  map[string]int `json:"signals"` // rule → ticks it fired while this verdict led
}

// bottleneckNotMeasured are the signals the issue names that phantom does
// not time itself.
var bottleneckNotMeasured = []string{
	"fsync time: not timed; in disk mode the kernel's disk counters (busy %, average write wait) stand in",
}

// Report is the tally as the report writes it; nil when no tick was judged.
func (t BottleneckTally) Report() *BottleneckReport {
	if t.Ticks == 0 {
		return nil
	}
	r := &BottleneckReport{Ticks: t.Ticks, Verdicts: []BottleneckVerdict{}, NotMeasured: bottleneckNotMeasured}
	for v := Resource(0); v <= ResourceNone; v++ {
		if t.Led[v] == 0 {
			continue
		}
		bv := BottleneckVerdict{Resource: v.String(), Verdict: v.Verdict(), Ticks: t.Led[v],
			Share: float64(t.Led[v]) / float64(t.Ticks), Signals: map[string]int{}}
		for r := Resource(0); r < numResources; r++ {
			if n := t.Fired[v][r]; n > 0 {
				bv.Signals[r.String()] = n
			}
		}
		r.Verdicts = append(r.Verdicts, bv)
	}
	sort.SliceStable(r.Verdicts, func(i, j int) bool { return r.Verdicts[i].Ticks > r.Verdicts[j].Ticks })
	r.MostFrequent = r.Verdicts[0].Resource
	if w := t.Worst; w.Line != "" {
		r.Worst = &BottleneckWorst{AtSeconds: math.Round(t.WorstAt.Seconds()*1000) / 1000, Resource: w.Resource.String(), Severity: math.Round(w.Severity*100) / 100,
			Line: w.Line, Signals: w.FiredNames()}
	}
	return r
}

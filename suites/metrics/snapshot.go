package metrics

import "time"

// Phase is where a run is.
type Phase string

// Phases of a run, in order; a run ends Done or Failed.
const (
	PhaseStarting Phase = "starting" // the cluster is coming up
	// PhaseSettling is the wait before a suite's load for the cluster to
	// settle (membership changes finished, replicas caught up): no op is
	// recorded and no suite's clock runs.
	PhaseSettling Phase = "settling"
	PhaseRunning  Phase = "running"
	PhaseStopping Phase = "stopping" // load stopped, cluster shutting down
	PhaseDone     Phase = "done"
	PhaseFailed   Phase = "failed"
)

// Snapshot is everything a front end shows at one tick. It is immutable
// once published: front ends may keep it and read it from any goroutine.
type Snapshot struct {
	Seq      uint64
	At       time.Time
	Elapsed  time.Duration // load time so far
	Planned  time.Duration // load time planned for the whole run
	Phase    Phase
	Suite    string // the suite running now
	Paused   bool   // the load is held by a pause; its clocks are stopped
	Ops      []OpStats
	System   System
	Cluster  Cluster
	Verdicts []Verdict // the window judged against the baselines this tick
	Events   []Event   // every event so far, oldest first
	Load     Load      // how the load is generated and the schedule kept
	// InFlight is the running suite's iterations that have not returned,
	// read every tick: a stall shows here within one.
	InFlight InFlight
	// SuiteEnds are the finished suites' iterations still in flight when
	// their load ended, oldest first; never dropped without a trace.
	SuiteEnds []SuiteEnd
	// Epochs are the closed spans between live changes, oldest first; the
	// current one's figures are each op's Epoch.
	Epochs []Epoch
	// EpochStart and EpochChange describe the current epoch.
	EpochStart  time.Duration
	EpochChange string
	// Scalability is the scalability sweep's result once it has run.
	Scalability *Scalability
	// Checks are the correctness verdicts of the suites that have ended.
	Checks []Check
	// Bottleneck names what limits the run at this tick, and Bottlenecks
	// tallies the verdicts of every tick of load so far (see Diagnoser).
	// Zero before the first tick of load.
	Bottleneck  Bottleneck
	Bottlenecks BottleneckTally
	// Elections are the leader elections so far, caused by the run and
	// spontaneous, over the whole run; SuiteElections the same for each
	// suite that has started, over its load.
	Elections      Elections
	SuiteElections []SuiteElections
	Err            string // why the run failed, when Phase is PhaseFailed
	// SystemSeries is the system gauges over the load so far, averaged
	// per step (SystemSeries), oldest first, for the reports' charts.
	SystemSeries []SystemPoint
}

// Op returns the stats of the named op.
func (s *Snapshot) Op(name string) (OpStats, bool) {
	for _, o := range s.Ops {
		if o.Name == name {
			return o, true
		}
	}
	return OpStats{}, false
}

// Violated reports whether op (or, for suite-level verdicts, its suite) is
// violating a baseline in this tick's window.
func (s *Snapshot) Violated(op OpSpec) bool {
	for _, v := range s.Verdicts {
		if !v.Pass && (v.Op == op.Name || (v.Op == "" && v.Suite == op.Suite && op.Primary)) {
			return true
		}
	}
	return false
}

// StallAfter is how long an iteration runs before the live view and the
// progress line call it waiting.
const StallAfter = time.Second

// InFlight is the iterations of a suite's clients that have started and
// not returned.
type InFlight struct {
	Ops     int           // iterations running
	Waiting int           // of them, running for longer than StallAfter
	Oldest  time.Duration // how long the oldest has run
}

// SuiteEnd is what was in flight when a suite's load ended: those
// iterations were cut short, so no op of theirs is in the figures.
type SuiteEnd struct {
	Suite    string
	InFlight InFlight
}

// Epoch is the span between two live changes, with every op's figures
// over it, so before and after can be compared.
type Epoch struct {
	Index      int
	Start, End time.Duration // since the load started
	Change     string        // what opened it: "start", "clients=50", …
	// Timeouts are the Raft timeouts in force when it opened.
	Timeouts RaftTimeouts
	Ops      []EpochOp
}

// RaftTimeouts are the consensus timeouts a cluster runs with; zero when
// unknown.
type RaftTimeouts struct {
	Heartbeat, Election time.Duration
}

// EpochOp is one op's figures over an epoch.
type EpochOp struct {
	Name, Suite string
	Figures
}

// Load describes the load model: closed loop (TargetRate 0), or open loop
// at TargetRate ops/s, with how far the clients fell behind its schedule.
type Load struct {
	TargetRate float64
	Late       uint64        // iterations started over a millisecond late, so far
	MaxLag     time.Duration // the furthest any client has fallen behind
	Lag        time.Duration // how far behind the furthest client is now
}

// Cluster is the embedded cluster's state as the front ends show it.
type Cluster struct {
	Nodes         []Node
	Shards        []Shard
	LeaderChanges uint64
}

// Node is one cluster node.
type Node struct {
	ID          string
	Up          bool
	Replicas    int // shard replicas it hosts
	Leaderships int // shards it leads
	// State is the node's health as the meta group records it: "up",
	// "suspect", "down", or "joining" before it is registered. It lags
	// Up: a crashed node is down at once but "up" until its heartbeats
	// are missed.
	State string
	// Partitioned is whether a partition cuts the node off; it may still
	// be Up.
	Partitioned bool
	// PID, CPUPercent (of one core, since the last tick; -1 before the
	// first rate) and RSSBytes are the node's own process in processes
	// mode; PID and RSSBytes are zero when the node runs inside phantom
	// (CPUPercent -1 once its network is sampled, 0 before).
	PID        int
	CPUPercent float64
	RSSBytes   uint64
	// QuotaCPUs is the CPU quota its process runs under (--node-cpus), 0
	// for none; ThrottledPercent the share of the periods since the last
	// tick in which it wanted CPU and had used its quota (-1 before the
	// first rate).
	QuotaCPUs        float64
	ThrottledPercent float64
	// The node's network, when HasNet: the bytes its Raft links and its
	// API have sent and received since its process started (counted by
	// the node: the OS keeps no per-process figures) — an embedded
	// node's Raft bytes since it joined, restarts included, counted by
	// the cluster's network — and their rates since the last tick (-1
	// before the first). Its disk likewise, when
	// HasDisk: bytes read and written by the process (/proc/PID/io).
	HasNet                    bool
	NetSentBytes              uint64
	NetRecvBytes              uint64
	NetSentBps, NetRecvBps    float64
	HasDisk                   bool
	DiskReadBytes             uint64
	DiskWriteBytes            uint64
	DiskReadBps, DiskWriteBps float64
}

// Shard is one Raft group.
type Shard struct {
	ID          int
	Leader      string // node id, empty while there is none
	Term        uint64
	CommitIndex uint64
	// MaxLag is how many committed entries the slowest live replica has
	// yet to apply.
	MaxLag uint64
	// Uncommitted is how many entries the leader has stored and not yet
	// committed: appends in flight to its followers.
	Uncommitted uint64
}

package suites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/phantomdb/phantom/internal/procstat"
	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/suites/metrics"
	"golang.org/x/sys/unix"
)

// Where the cluster runs, Config.Cluster's values.
const (
	// ClusterEmbedded runs every node inside phantom's process: the
	// default ("" means it too).
	ClusterEmbedded = "embedded"
	// ClusterProcesses starts each node as a `phantom node` process on
	// 127.0.0.1 and drives them over TCP.
	ClusterProcesses = "processes"
	// ClusterJoinPrefix starts the value join=HOST:PORT,...: phantom
	// drives nodes something else started, discovering the rest of them
	// from the ones named.
	ClusterJoinPrefix = "join="
)

// ClusterMode is a parsed Config.Cluster.
type ClusterMode struct {
	Kind string   // ClusterEmbedded, ClusterProcesses or "join"
	Join []string // with "join", the API addresses given
}

// ParseClusterMode parses a cluster setting: embedded (or ""), processes,
// or join=HOST:PORT,...
func ParseClusterMode(s string) (ClusterMode, error) {
	switch s {
	case "", ClusterEmbedded:
		return ClusterMode{Kind: ClusterEmbedded}, nil
	case ClusterProcesses:
		return ClusterMode{Kind: ClusterProcesses}, nil
	}
	rest, ok := strings.CutPrefix(s, ClusterJoinPrefix)
	if !ok {
		return ClusterMode{}, fmt.Errorf("cluster must be %s, %s or join=HOST:PORT,..., got %q", ClusterEmbedded, ClusterProcesses, s)
	}
	m := ClusterMode{Kind: "join"}
	for a := range strings.SplitSeq(rest, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return ClusterMode{}, fmt.Errorf("cluster join=: %q is not HOST:PORT", a)
		}
		m.Join = append(m.Join, a)
	}
	if len(m.Join) == 0 {
		return ClusterMode{}, errors.New("cluster join= names no node: give join=HOST:PORT[,HOST:PORT]")
	}
	return m, nil
}

// Local reports whether every node runs on this machine, so that the
// cluster's traffic is loopback's: embedded and processes mode. Joined
// nodes may be anywhere, and their network is taken to be real.
func (m ClusterMode) Local() bool { return m.Kind != "join" }

// String is the mode as a setting.
func (m ClusterMode) String() string {
	if m.Kind == "join" {
		return ClusterJoinPrefix + strings.Join(m.Join, ",")
	}
	return m.Kind
}

// nodeProcs keeps the node processes a run's clusters started, for the
// report.
type nodeProcs struct {
	mu        sync.Mutex
	launchers []*node.Processes
	joined    []node.Info
	join      *node.Join

	// The CPU quotas of --node-cpus: opened with the first cluster,
	// closed when the run ends.
	quotas    *cgroup.Manager
	quotaErr  error
	quotaText string // the quota in words, for the report

	// Sampling (nodestats.go), by node name.
	stat      *procstat.Sampler          // processes mode's processes
	tracked   map[string]int             // the pid stat tracks for each name
	prev      map[string]node.ProcessUse // each node's last own report, by node and pid, for the rates (nodeRates)
	agg       map[string]*nodeAgg        // over the load
	series    map[string]*nodeSeries     // over the load, for resources.nodes
	loadStart time.Time
	step      int

	// exitsSeen is how many of each launcher's exits on their own
	// (Exits of node.Processes and node.Join) the runner has told of
	// (takeExits), by launcher.
	exitsSeen map[any]int
	// fetch asks the nodes for their own reports off the tick.
	fetch useFetch
	// emb samples the embedded clusters' nodes (nodestats.go).
	emb embeddedTraffic
}

func (n *nodeProcs) report() []metrics.NodeProcessReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeProcessReport
	for i, l := range n.launchers {
		for _, p := range l.Started() {
			out = append(out, metrics.NodeProcessReport{ID: launcherName(i, p.ID), PID: p.PID, Addr: p.Addr, Log: p.Log})
		}
	}
	for _, j := range n.joined {
		out = append(out, metrics.NodeProcessReport{ID: j.ID, PID: int(j.PID), Addr: j.Addr})
	}
	return out
}

// opener returns how the runner opens its database for cfg's cluster
// mode.
func (r *Runner) opener() func(ctx context.Context, cfg core.Config) (DB, error) {
	m, err := ParseClusterMode(r.cfg.Cluster)
	if err != nil || m.Kind == ClusterEmbedded {
		return openEmbedded
	}
	return func(ctx context.Context, ccfg core.Config) (DB, error) {
		var l core.NodeLauncher
		switch m.Kind {
		case ClusterProcesses:
			quotas, err := r.procs.openQuotas(r.cfg.NodeCPUs)
			if err != nil {
				return nil, err
			}
			p, err := node.NewProcesses(node.ProcessesConfig{Exe: r.cfg.NodeBinary, Storage: ccfg.Storage, LogDir: r.cfg.NodeLogDir, Quotas: quotas, CPUs: r.cfg.NodeCPUs})
			if err != nil {
				return nil, err
			}
			r.procs.mu.Lock()
			r.procs.launchers = append(r.procs.launchers, p)
			r.procs.mu.Unlock()
			l = p
		default:
			j, err := node.NewJoin(ctx, m.Join)
			if err != nil {
				return nil, err
			}
			if found := len(j.Nodes()); found < ccfg.Nodes {
				return nil, fmt.Errorf("join: found %d nodes from %s, the run asks for %d", found, strings.Join(m.Join, ","), ccfg.Nodes)
			}
			r.procs.mu.Lock()
			r.procs.joined = j.Nodes()
			r.procs.join = j
			r.procs.mu.Unlock()
			l = j
		}
		ccfg.Launcher = l
		c, err := core.NewCluster(ctx, ccfg)
		if err != nil {
			_ = l.Close()
			return nil, err
		}
		return c, nil
	}
}

// nodeCPUs is each node process's CPU quota when the run's nodes are
// processes under one, else 0.
func (x *run) nodeCPUs() float64 {
	if m, err := ParseClusterMode(x.cfg.Cluster); err != nil || m.Kind != ClusterProcesses {
		return 0
	}
	return max(x.cfg.NodeCPUs, 0)
}

// cpuMark is the CPU counters at one instant: read at a sweep step's
// start and end, they give exactly what was used in between, however late
// the runner's ticks come on a busy machine (a tick's sample may land
// after the step it measured has ended, its cluster closed).
type cpuMark struct {
	at          time.Time
	busy, total uint64          // the machine's, in clock ticks (/proc/stat); total 0 when unread
	procs       map[int]procCPU // each node process's, by pid
}

// procCPU is one node process's CPU time, and whether it is one of the
// run's own cluster's nodes (else a cluster a suite opened beside it).
type procCPU struct {
	own bool
	ns  int64
}

// stepUse is what was used between two marks: the machine's CPU busy
// (percent of all cores; 0 unknown) and, in CPUs, the run's own node
// processes' and the other clusters'.
type stepUse struct {
	machine        float64
	own, fresh     float64
	ownOK, freshOK bool
}

// mark reads the machine's and every running node process's CPU counters.
func (n *nodeProcs) mark() cpuMark {
	m := cpuMark{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		m.busy, m.total = parseProcStat(string(b))
	}
	procs := n.running()
	n.mu.Lock()
	own := map[string]bool{}
	if len(n.launchers) > 0 {
		for _, p := range n.launchers[0].Nodes() {
			own[p.ID] = true // the first launcher's are the run's, named by their ids
		}
	}
	n.mu.Unlock()
	m.procs = make(map[int]procCPU, len(procs))
	for _, p := range procs {
		if ns, err := processCPU(p.PID); err == nil {
			m.procs[p.PID] = procCPU{own: own[p.ID], ns: ns}
		}
	}
	return m
}

// parseProcStat reads the machine's busy and total clock ticks from
// /proc/stat's first line ("cpu  user nice system idle iowait irq softirq
// steal ..."): idle and iowait are not busy; guest time is already in user.
func parseProcStat(s string) (busy, total uint64) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:min(len(f), 9)] {
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0
		}
		total += x
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	return busy, total
}

// processCPU is pid's CPU time so far, every thread's, in nanoseconds: the
// process's CPU-time clock (CPUCLOCK_SCHED of the whole process).
func processCPU(pid int) (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^uint32(pid)<<3|2), &ts); err != nil {
		return 0, err
	}
	return ts.Nano(), nil
}

// usedBetween is what was used from a to b: the machine's CPU busy, and
// the node processes' CPU split into the run's own and the others,
// counting only processes that ran at both marks (one that started or
// ended between them has no span to count).
func usedBetween(a, b cpuMark) stepUse {
	var u stepUse
	wall := b.at.Sub(a.at)
	if b.total > a.total && a.total > 0 {
		u.machine = 100 * float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	if wall <= 0 {
		return u
	}
	for pid, end := range b.procs {
		start, ok := a.procs[pid]
		if !ok || end.ns < start.ns {
			continue
		}
		cpus := float64(end.ns-start.ns) / float64(wall)
		if end.own {
			u.own += cpus
			u.ownOK = true
		} else {
			u.fresh += cpus
			u.freshOK = true
		}
	}
	return u
}

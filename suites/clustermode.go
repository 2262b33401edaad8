package suites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/phantomdb/phantom/internal/procstat"
	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/suites/metrics"
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
	stat      *procstat.Sampler      // processes mode's processes
	tracked   map[string]int         // the pid stat tracks for each name
	prev      map[string]*joinSample // join mode's, by node and pid, for CPU rates
	agg       map[string]*nodeAgg    // over the load
	series    map[string]*nodeSeries // over the load, for resources.nodes
	loadStart time.Time
	step      int

	// exitsSeen is how many of each launcher's exits on their own
	// (Exits of node.Processes and node.Join) the runner has told of
	// (takeExits), by launcher.
	exitsSeen map[any]int
	// fetch asks the nodes for their own reports off the tick.
	fetch useFetch
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

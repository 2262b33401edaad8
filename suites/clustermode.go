package suites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/phantomdb/phantom/core"
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
	prev      map[string]*procSample // by process, for CPU rates
	agg       map[string]*nodeAgg    // by node id, over the load
}

func (n *nodeProcs) report() []metrics.NodeProcessReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeProcessReport
	for _, l := range n.launchers {
		for _, p := range l.Started() {
			out = append(out, metrics.NodeProcessReport{ID: p.ID, PID: p.PID, Addr: p.Addr, Log: p.Log})
		}
	}
	for _, j := range n.joined {
		out = append(out, metrics.NodeProcessReport{ID: j.ID, PID: int(j.PID), Addr: j.Addr})
	}
	return out
}

// pids are the node processes running now, for sampling their resources.
func (n *nodeProcs) running() []node.NodeProcess {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []node.NodeProcess
	for _, l := range n.launchers {
		out = append(out, l.Nodes()...)
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
			p, err := node.NewProcesses(node.ProcessesConfig{Exe: r.cfg.NodeBinary, Storage: ccfg.Storage, LogDir: r.cfg.NodeLogDir})
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

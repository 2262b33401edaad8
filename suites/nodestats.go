package suites

import (
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/phantomdb/phantom/suites/metrics"
)

// Resources of the node processes of processes mode, sampled by pid on the
// runner's tick: what each node's process uses, so that a hot node can be
// named. (Join mode's nodes run elsewhere; their own reports over the
// admin API are not gathered yet.)

// nodeUse is one node process's use at a tick.
type nodeUse struct {
	pid int
	cpu float64 // percent of one core since the previous sample; -1 before there is one
	rss uint64
}

// procSample remembers a process between samples.
type procSample struct {
	p       *process.Process
	cpuSecs float64
	at      time.Time
}

// nodeAgg sums one node's samples over the run's load.
type nodeAgg struct {
	pid            int
	cpuSum, cpuMax float64
	cpuN           int
	rssSum         float64
	rssMax         uint64
	rssN           int
}

// sample measures every running node process, by node id.
func (n *nodeProcs) sample(now time.Time, load bool) map[string]nodeUse {
	procs := n.running()
	if len(procs) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.prev == nil {
		n.prev = map[int]*procSample{}
		n.agg = map[string]*nodeAgg{}
	}
	out := make(map[string]nodeUse, len(procs))
	seen := make(map[int]bool, len(procs))
	for _, np := range procs {
		seen[np.PID] = true
		ps := n.prev[np.PID]
		if ps == nil {
			p, err := process.NewProcess(int32(np.PID))
			if err != nil {
				continue
			}
			ps = &procSample{p: p, cpuSecs: -1}
			n.prev[np.PID] = ps
		}
		u := nodeUse{pid: np.PID, cpu: -1}
		if t, err := ps.p.Times(); err == nil {
			secs := t.User + t.System
			if ps.cpuSecs >= 0 && now.After(ps.at) {
				u.cpu = 100 * (secs - ps.cpuSecs) / now.Sub(ps.at).Seconds()
			}
			ps.cpuSecs, ps.at = secs, now
		}
		if m, err := ps.p.MemoryInfo(); err == nil {
			u.rss = m.RSS
		}
		out[np.ID] = u
		if load {
			a := n.agg[np.ID]
			if a == nil {
				a = &nodeAgg{}
				n.agg[np.ID] = a
			}
			a.pid = np.PID
			if u.cpu >= 0 {
				a.cpuSum += u.cpu
				a.cpuMax = max(a.cpuMax, u.cpu)
				a.cpuN++
			}
			if u.rss > 0 {
				a.rssSum += float64(u.rss)
				a.rssMax = max(a.rssMax, u.rss)
				a.rssN++
			}
		}
	}
	for pid := range n.prev {
		if !seen[pid] {
			delete(n.prev, pid) // exited: a restart is a new process
		}
	}
	return out
}

// resources are the nodes' use over the run's load, by node id.
func (n *nodeProcs) resources() []metrics.NodeResourceReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeResourceReport
	for id, a := range n.agg {
		r := metrics.NodeResourceReport{ID: id, PID: a.pid, CPUMaxPercent: a.cpuMax, RSSMaxBytes: a.rssMax}
		if a.cpuN > 0 {
			r.CPUAvgPercent = a.cpuSum / float64(a.cpuN)
		}
		if a.rssN > 0 {
			r.RSSAvgBytes = uint64(a.rssSum / float64(a.rssN))
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b metrics.NodeResourceReport) int { return strings.Compare(a.ID, b.ID) })
	return out
}

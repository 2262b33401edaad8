package suites

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Resources of the node processes, sampled on the runner's tick: what each
// node's process uses, so that a hot node can be named. Processes mode's
// are read by pid; join mode's nodes run elsewhere and report their own
// over the admin API.

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

// sample measures every running node process, by node id: those of
// processes mode by pid, those of join mode as each reports itself over
// its admin API.
func (n *nodeProcs) sample(now time.Time, load bool) map[string]nodeUse {
	procs := n.running()
	n.mu.Lock()
	join := n.join
	n.mu.Unlock()
	var joined map[string]node.ProcessUse
	if join != nil {
		ctx, cancel := context.WithTimeout(context.Background(), joinUseTimeout)
		joined = join.Use(ctx)
		cancel()
	}
	if len(procs) == 0 && len(joined) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.prev == nil {
		n.prev = map[string]*procSample{}
		n.agg = map[string]*nodeAgg{}
	}
	out := make(map[string]nodeUse, len(procs)+len(joined))
	seen := make(map[string]bool, len(procs)+len(joined))
	// measure turns a process's CPU time and memory into a use, against
	// its previous sample under key.
	measure := func(id, key string, pid int, cpuSecs float64, cpuOK bool, rss uint64) {
		seen[key] = true
		ps := n.prev[key]
		if ps == nil {
			ps = &procSample{cpuSecs: -1}
			n.prev[key] = ps
		}
		u := nodeUse{pid: pid, cpu: -1, rss: rss}
		if cpuOK {
			if ps.cpuSecs >= 0 && now.After(ps.at) {
				u.cpu = 100 * (cpuSecs - ps.cpuSecs) / now.Sub(ps.at).Seconds()
			}
			ps.cpuSecs, ps.at = cpuSecs, now
		}
		out[id] = u
		if load {
			n.add(id, u)
		}
	}
	for _, np := range procs {
		key := "pid " + strconv.Itoa(np.PID)
		ps := n.prev[key]
		if ps == nil {
			p, err := process.NewProcess(int32(np.PID))
			if err != nil {
				continue
			}
			ps = &procSample{p: p, cpuSecs: -1}
			n.prev[key] = ps
		}
		var secs float64
		t, err := ps.p.Times()
		if err == nil {
			secs = t.User + t.System
		}
		var rss uint64
		if m, err := ps.p.MemoryInfo(); err == nil {
			rss = m.RSS
		}
		measure(np.ID, key, np.PID, secs, err == nil, rss)
	}
	for id, u := range joined {
		measure(id, "joined "+id+" "+strconv.Itoa(u.PID), u.PID, u.CPUSeconds, true, u.RSSBytes)
	}
	for key := range n.prev {
		if !seen[key] {
			delete(n.prev, key) // exited: a restart is a new process
		}
	}
	return out
}

// joinUseTimeout bounds asking joined nodes for their use, on the tick.
const joinUseTimeout = 200 * time.Millisecond

// add counts a use of node id over the load. n.mu must be held.
func (n *nodeProcs) add(id string, u nodeUse) {
	a := n.agg[id]
	if a == nil {
		a = &nodeAgg{}
		n.agg[id] = a
	}
	a.pid = u.pid
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

// resources are the nodes' use over the run's load, by node id.
func (n *nodeProcs) resources() []metrics.NodeResourceReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeResourceReport
	for id, a := range n.agg {
		r := metrics.NodeResourceReport{ID: id, PID: a.pid, CPUMaxPercent: a.cpuMax, CPUSamples: a.cpuN, RSSMaxBytes: a.rssMax}
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

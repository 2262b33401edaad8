package suites

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/phantomdb/phantom/internal/procstat"
	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Resources of the nodes, sampled on the runner's tick: what each node
// uses, so that a hot node can be named. Processes mode's CPU, memory and
// disk are read by pid through procstat (with their CPU quota's
// throttling under --node-cpus); join mode's nodes run elsewhere and
// report their own over the admin API. Network is always the node's own
// count (its Raft links' and API's bytes), asked over the admin API in
// both modes: the OS keeps no per-process figures. The embedded cluster's
// nodes share phantom's process, so they have no CPU, memory or disk of
// their own — only their Raft bytes, which the cluster's simulated
// network counts per node (embeddedTraffic).

// nodeUse is one node process's use at a tick.
type nodeUse struct {
	pid                 int
	cpu                 float64 // percent of one core since the previous sample; -1 before there is one
	rss                 uint64
	diskRead, diskWrite float64 // bytes/s; NaN when not measured
	quota               float64 // CPUs, 0 for none
	throttled           float64 // percent of the periods it wanted CPU in; -1 before there is a rate
	netRecv, netSent    float64 // bytes/s; NaN when not measured

	// The counters the rates come from, for Prometheus' totals.
	hasNet, hasDisk       bool
	netRecvB, netSentB    uint64
	diskReadB, diskWriteB uint64
}

// nodeRates are the rates between two of a node process's reports, over
// the time between them on the node's own clock (Uptime), so that the time
// the reports took to arrive does not skew them. ok is false when there is
// no earlier report of the same process, no time passed, or a counter went
// back (a new process behind the pid): then there is no rate to give, as
// the embedded nodes' sampling has none, rather than a 0 that the
// averages would count as a measured idle tick.
func nodeRates(prev, cur node.ProcessUse) (cpu, netRecv, netSent, diskRead, diskWrite float64, ok bool) {
	sec := (cur.Uptime - prev.Uptime).Seconds()
	disk := cur.HasDisk && prev.HasDisk
	if prev.PID != cur.PID || sec <= 0 || cur.CPUSeconds < prev.CPUSeconds ||
		cur.NetRecv() < prev.NetRecv() || cur.NetSent() < prev.NetSent() ||
		disk && (cur.DiskRead < prev.DiskRead || cur.DiskWrite < prev.DiskWrite) {
		return 0, 0, 0, 0, 0, false
	}
	r := func(now, last uint64) float64 { return float64(now-last) / sec }
	cpu = 100 * (cur.CPUSeconds - prev.CPUSeconds) / sec
	diskRead, diskWrite = math.NaN(), math.NaN()
	if disk {
		diskRead, diskWrite = r(cur.DiskRead, prev.DiskRead), r(cur.DiskWrite, prev.DiskWrite)
	}
	return cpu, r(cur.NetRecv(), prev.NetRecv()), r(cur.NetSent(), prev.NetSent()), diskRead, diskWrite, true
}

// apply copies u into the node of a snapshot.
func (u nodeUse) apply(n *metrics.Node) {
	n.PID, n.CPUPercent, n.RSSBytes = u.pid, u.cpu, u.rss
	n.QuotaCPUs, n.ThrottledPercent = u.quota, u.throttled
	minus := func(v float64) float64 {
		if math.IsNaN(v) {
			return -1
		}
		return v
	}
	n.HasNet, n.NetRecvBytes, n.NetSentBytes = u.hasNet, u.netRecvB, u.netSentB
	n.NetRecvBps, n.NetSentBps = minus(u.netRecv), minus(u.netSent)
	n.HasDisk, n.DiskReadBytes, n.DiskWriteBytes = u.hasDisk, u.diskReadB, u.diskWriteB
	n.DiskReadBps, n.DiskWriteBps = minus(u.diskRead), minus(u.diskWrite)
}

// nodeAgg sums one node's samples over the run's load.
type nodeAgg struct {
	pid            int
	cpuSum, cpuMax float64
	cpuN           int
	rssSum         float64
	rssMax         uint64
	rssN           int
	quota          float64
	thrSum, thrMax float64
	thrN           int
	// network received and sent, disk read and written: bytes/s
	ioSum, ioMax [4]float64
	netN, diskN  int
}

// nodeSeries gathers one node's samples into points of step ticks, for
// the report's per-node resource series (resources.nodes).
type nodeSeries struct {
	n   int
	sum [6]float64 // cpu, rss, disk read, disk write, network received, sent
	cnt [6]int
	rep metrics.NodeResourcesReport
	// Whether any figure of each kind was measured: a column never
	// measured (an embedded node's CPU, memory and disk) is left out of
	// the report rather than shown as gaps.
	cpu, rss, disk, net bool
}

func (s *nodeSeries) add(at time.Duration, step int, u nodeUse) {
	for k, v := range [6]float64{u.cpu, float64(u.rss), u.diskRead, u.diskWrite, u.netRecv, u.netSent} {
		if (k == 0 && v < 0) || math.IsNaN(v) || (k == 1 && v == 0) {
			continue
		}
		s.sum[k] += v
		s.cnt[k]++
	}
	s.n++
	if s.n < step {
		return
	}
	var v [6]metrics.Num
	for k := range v {
		v[k] = metrics.Num(math.NaN())
		if s.cnt[k] > 0 {
			v[k] = metrics.Num(s.sum[k] / float64(s.cnt[k]))
		}
	}
	s.cpu = s.cpu || s.cnt[0] > 0
	s.rss = s.rss || s.cnt[1] > 0
	s.disk = s.disk || s.cnt[2] > 0 || s.cnt[3] > 0
	s.net = s.net || s.cnt[4] > 0 || s.cnt[5] > 0
	r := &s.rep
	r.AtS = append(r.AtS, math.Round(at.Seconds()*1000)/1000)
	r.CPUPercent = append(r.CPUPercent, metrics.Num(math.Round(float64(v[0])*100)/100))
	r.RSSBytes = append(r.RSSBytes, metrics.Num(math.Round(float64(v[1]))))
	r.DiskReadBytesPerSec = append(r.DiskReadBytesPerSec, metrics.Num(math.Round(float64(v[2]))))
	r.DiskWriteBytesPerSec = append(r.DiskWriteBytesPerSec, metrics.Num(math.Round(float64(v[3]))))
	r.NetRxBytesPerSec = append(r.NetRxBytesPerSec, metrics.Num(math.Round(float64(v[4]))))
	r.NetTxBytesPerSec = append(r.NetTxBytesPerSec, metrics.Num(math.Round(float64(v[5]))))
	s.n, s.sum, s.cnt = 0, [6]float64{}, [6]int{}
}

// startSeries starts the per-node series at the load's start, a point
// every step ticks (the resource series' step).
func (n *nodeProcs) startSeries(loadStart time.Time, step int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loadStart, n.step = loadStart, max(step, 1)
}

// openQuotas opens the run's CPU quota groups, once, when cpus is set;
// later calls return what the first did.
func (n *nodeProcs) openQuotas(cpus float64) (*cgroup.Manager, error) {
	if cpus <= 0 {
		return nil, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.quotas == nil && n.quotaErr == nil {
		n.quotas, n.quotaErr = cgroup.Open()
		if n.quotaErr == nil {
			n.quotaText = n.quotas.Describe(cpus)
		}
	}
	return n.quotas, n.quotaErr
}

// close ends the sampling — it waits for a fetch of the nodes' own
// reports in flight — and removes the run's CPU quota groups; the
// clusters must be closed first.
func (n *nodeProcs) close() {
	n.fetch.wg.Wait()
	n.mu.Lock()
	m := n.quotas
	n.mu.Unlock()
	if m != nil {
		_ = m.Close()
	}
}

// running lists the node processes running now, each under the name the
// report gives it: its node id in the run's own cluster (the first
// launcher's), "cK.ID" in the K-th cluster a run opened (the scalability
// suite's fresh ones run beside the run's own, with the same ids).
func (n *nodeProcs) running() []node.NodeProcess {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []node.NodeProcess
	for i, l := range n.launchers {
		for _, p := range l.Nodes() {
			p.ID = launcherName(i, p.ID)
			out = append(out, p)
		}
	}
	return out
}

func launcherName(i int, id string) string {
	if i == 0 {
		return id
	}
	return fmt.Sprintf("c%d.%s", i+1, id)
}

// sample measures every running node, by name (see running): those of
// processes mode by pid, with the network each reports itself; those of
// join mode as each reports itself over its admin API; an embedded
// cluster's by the traffic its simulated network counts (embeddedTraffic).
func (n *nodeProcs) sample(now time.Time, load bool) map[string]nodeUse {
	procs := n.running()
	n.mu.Lock()
	join := n.join
	launchers := slices.Clone(n.launchers)
	n.mu.Unlock()
	var joined, reported map[string]node.ProcessUse
	if join != nil || len(procs) > 0 {
		joined, reported = n.fetch.latest(func(ctx context.Context) (joined, reported map[string]node.ProcessUse) {
			if join != nil {
				joined = join.Use(ctx)
			}
			// Processes mode's nodes report their network (and their
			// counters) themselves; procstat reads the rest by pid.
			for i, l := range launchers {
				for id, u := range l.Use(ctx) {
					if reported == nil {
						reported = map[string]node.ProcessUse{}
					}
					reported[launcherName(i, id)] = u
				}
			}
			return joined, reported
		})
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(procs) == 0 && len(joined) == 0 && len(n.tracked) == 0 && len(n.emb.srcs) == 0 {
		return nil // nothing running: nothing to sample or untrack
	}
	if n.agg == nil {
		n.stat = procstat.New()
		n.tracked = map[string]int{}
		n.prev = map[string]node.ProcessUse{}
		n.agg = map[string]*nodeAgg{}
		n.series = map[string]*nodeSeries{}
	}
	out := make(map[string]nodeUse, len(procs)+len(joined)+len(n.emb.prev))
	record := func(id string, u nodeUse) {
		out[id] = u
		if !load {
			return
		}
		n.add(id, u)
		if !n.loadStart.IsZero() {
			s := n.series[id]
			if s == nil {
				s = &nodeSeries{rep: metrics.NodeResourcesReport{Name: id}}
				n.series[id] = s
			}
			s.add(now.Sub(n.loadStart), n.step, u)
		}
	}

	// Processes mode: one procstat sampler over every running process.
	live := make(map[string]bool, len(procs))
	for _, np := range procs {
		live[np.ID] = true
		if n.tracked[np.ID] != np.PID {
			n.stat.TrackIn(np.ID, np.PID, np.Group)
			n.tracked[np.ID] = np.PID
		}
	}
	for id := range n.tracked {
		if !live[id] {
			n.stat.Untrack(id) // exited: a restart is a new process
			delete(n.tracked, id)
		}
	}
	seen := make(map[string]bool, len(joined)+len(reported))
	var stats []procstat.NodeResources
	if len(n.tracked) > 0 {
		stats = n.stat.Sample()
	}
	for _, r := range stats {
		if r.Err == procstat.ErrExited.Error() {
			continue
		}
		u := nodeUse{pid: r.PID, cpu: -1, rss: r.RSSBytes, diskRead: math.NaN(), diskWrite: math.NaN(), quota: r.QuotaCPUs, throttled: -1,
			netRecv: math.NaN(), netSent: math.NaN(), hasDisk: r.HasDisk, diskReadB: r.ReadBytes, diskWriteB: r.WriteBytes}
		if ru, ok := reported[r.Node]; ok && ru.PID == r.PID {
			key := r.Node + " " + strconv.Itoa(ru.PID)
			seen[key] = true
			u.hasNet, u.netRecvB, u.netSentB = true, ru.NetRecv(), ru.NetSent()
			if ps, ok := n.prev[key]; ok {
				if _, recv, sent, _, _, ok := nodeRates(ps, ru); ok {
					u.netRecv, u.netSent = recv, sent
				}
			}
			n.prev[key] = ru
		}
		if r.Interval > 0 {
			u.cpu = r.CPUPercent
			if r.Err == "" || !strings.HasPrefix(r.Err, "disk") {
				u.diskRead, u.diskWrite = r.ReadBps, r.WriteBps
			}
			if r.QuotaCPUs > 0 && !strings.HasPrefix(r.Err, "cgroup") {
				u.throttled = r.ThrottledPercent
			}
		}
		record(r.Node, u)
	}

	// Join mode: everything as each node reports it.
	for id, ju := range joined {
		key := id + " " + strconv.Itoa(ju.PID)
		seen[key] = true
		u := nodeUse{pid: ju.PID, cpu: -1, rss: ju.RSSBytes, diskRead: math.NaN(), diskWrite: math.NaN(), throttled: -1,
			netRecv: math.NaN(), netSent: math.NaN(), hasNet: true, netRecvB: ju.NetRecv(), netSentB: ju.NetSent(),
			hasDisk: ju.HasDisk, diskReadB: ju.DiskRead, diskWriteB: ju.DiskWrite}
		if ps, ok := n.prev[key]; ok {
			if cpu, recv, sent, rd, wr, ok := nodeRates(ps, ju); ok {
				u.cpu, u.netRecv, u.netSent, u.diskRead, u.diskWrite = cpu, recv, sent, rd, wr
			}
		}
		n.prev[key] = ju
		record(id, u)
	}
	for key := range n.prev {
		if !seen[key] {
			delete(n.prev, key)
		}
	}

	// Embedded mode: each node's Raft bytes.
	n.emb.sample(record)
	if len(out) == 0 {
		return nil
	}
	return out
}

// embeddedTraffic samples the nodes of the run's embedded clusters: their
// Raft bytes, which each cluster's simulated network counts per node
// (core.Cluster.AppendTraffic, two atomic loads a node). They share
// phantom's process, so their CPU, memory and disk stay not measured
// (nodeUse's -1 and NaN), never 0. Only the runner's tick calls sample,
// under nodeProcs.mu.
type embeddedTraffic struct {
	srcs []trafficSource
	// opens counts the databases the run opened, in any mode: the next
	// one's index, which names its nodes as a launcher's index names a
	// launcher's (launcherName).
	opens int
	prev  map[string]trafficMark // by node name
	gen   uint64                 // the sample's number, marking the nodes it saw in prev
	buf   []core.NodeTraffic     // reused by every sample
}

// trafficSource is a cluster counting its nodes' traffic and the order
// the run opened it in.
type trafficSource struct {
	db TrafficCounter
	k  int
}

// trafficMark is a node's counters at a reading, for the next one's rates.
type trafficMark struct {
	at         time.Time
	sent, recv uint64
	gen        uint64
}

// opened tells of a database the run opened: an embedded cluster's nodes
// are sampled from the next tick on, until it is closed.
func (n *nodeProcs) opened(db DB) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := n.emb.opens
	n.emb.opens++
	if tc, ok := db.(TrafficCounter); ok {
		n.emb.srcs = append(n.emb.srcs, trafficSource{tc, k})
	}
}

// sample reads every embedded cluster's nodes and records each node that
// is up, with its rates over the wall time since the previous reading: a
// crashed node, like a process that died, has no figures, and its first
// reading after a restart only sets where its rates start. A counter that
// went back (nothing in core does so; a source that restarted its counts
// would) likewise starts over rather than give a rate. A cluster that
// counts nothing any more (closed) is let go of.
func (e *embeddedTraffic) sample(record func(string, nodeUse)) {
	e.gen++
	kept := e.srcs[:0]
	for _, src := range e.srcs {
		var ok bool
		e.buf, ok = src.db.AppendTraffic(e.buf[:0])
		if !ok {
			continue
		}
		at := time.Now()
		kept = append(kept, src)
		for _, t := range e.buf {
			if !t.Up {
				continue
			}
			name := launcherName(src.k, t.ID)
			u := nodeUse{cpu: -1, diskRead: math.NaN(), diskWrite: math.NaN(), throttled: -1,
				netRecv: math.NaN(), netSent: math.NaN(), hasNet: true, netRecvB: t.Recv, netSentB: t.Sent}
			if p, ok := e.prev[name]; ok {
				if sec := at.Sub(p.at).Seconds(); sec > 0 && t.Sent >= p.sent && t.Recv >= p.recv {
					u.netRecv, u.netSent = float64(t.Recv-p.recv)/sec, float64(t.Sent-p.sent)/sec
				}
			}
			if e.prev == nil {
				e.prev = map[string]trafficMark{}
			}
			e.prev[name] = trafficMark{at: at, sent: t.Sent, recv: t.Recv, gen: e.gen}
			record(name, u)
		}
	}
	clear(e.srcs[len(kept):]) // let the closed clusters go
	e.srcs = kept
	maps.DeleteFunc(e.prev, func(_ string, m trafficMark) bool { return m.gen != e.gen })
}

// useFetch asks the nodes for their own reports off the runner's tick: a
// node under a CPU quota, or on another host, may take tens of
// milliseconds to answer, which the tick must not wait for. Each sample
// takes the answers the previous fetch brought and starts the next, so
// the figures are a tick old — which skews no rate, since a node's
// counters are rated over its own clock (nodeRates).
type useFetch struct {
	mu               sync.Mutex
	joined, reported map[string]node.ProcessUse
	busy             bool
	wg               sync.WaitGroup
}

// latest returns the last fetch's answers and starts another with fetch,
// unless one is still out.
func (f *useFetch) latest(fetch func(context.Context) (joined, reported map[string]node.ProcessUse)) (joined, reported map[string]node.ProcessUse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	joined, reported = f.joined, f.reported
	if !f.busy {
		f.busy = true
		f.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), joinUseTimeout)
			j, r := fetch(ctx)
			cancel()
			f.mu.Lock()
			f.joined, f.reported, f.busy = j, r, false
			f.mu.Unlock()
		})
	}
	return joined, reported
}

// joinUseTimeout bounds asking the nodes for their own reports.
const joinUseTimeout = 200 * time.Millisecond

// add counts a use of node id over the load. n.mu must be held.
func (n *nodeProcs) add(id string, u nodeUse) {
	a := n.agg[id]
	if a == nil {
		a = &nodeAgg{}
		n.agg[id] = a
	}
	a.pid = u.pid
	a.quota = u.quota
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
	if u.throttled >= 0 {
		a.thrSum += u.throttled
		a.thrMax = max(a.thrMax, u.throttled)
		a.thrN++
	}
	io := [4]float64{u.netRecv, u.netSent, u.diskRead, u.diskWrite}
	for k, v := range io {
		if math.IsNaN(v) {
			continue
		}
		a.ioSum[k] += v
		a.ioMax[k] = max(a.ioMax[k], v)
	}
	if !math.IsNaN(u.netRecv) {
		a.netN++
	}
	if !math.IsNaN(u.diskRead) {
		a.diskN++
	}
}

// resources are the nodes' use over the run's load, by node name.
func (n *nodeProcs) resources() []metrics.NodeResourceReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeResourceReport
	for id, a := range n.agg {
		r := metrics.NodeResourceReport{ID: id, PID: a.pid, CPUMaxPercent: a.cpuMax, CPUSamples: a.cpuN, RSSMaxBytes: a.rssMax, QuotaCPUs: a.quota}
		if a.cpuN > 0 {
			r.CPUAvgPercent = a.cpuSum / float64(a.cpuN)
		}
		if a.rssN > 0 {
			r.RSSAvgBytes = uint64(a.rssSum / float64(a.rssN))
		}
		if a.thrN > 0 {
			r.ThrottledSamples = a.thrN
			r.ThrottledAvgPercent = a.thrSum / float64(a.thrN)
			r.ThrottledMaxPercent = a.thrMax
		}
		if a.netN > 0 {
			r.NetSamples = a.netN
			r.NetRecvAvgBytesPerSec, r.NetRecvMaxBytesPerSec = math.Round(a.ioSum[0]/float64(a.netN)), math.Round(a.ioMax[0])
			r.NetSentAvgBytesPerSec, r.NetSentMaxBytesPerSec = math.Round(a.ioSum[1]/float64(a.netN)), math.Round(a.ioMax[1])
		}
		if a.diskN > 0 {
			r.DiskSamples = a.diskN
			r.DiskReadAvgBytesPerSec, r.DiskReadMaxBytesPerSec = math.Round(a.ioSum[2]/float64(a.diskN)), math.Round(a.ioMax[2])
			r.DiskWriteAvgBytesPerSec, r.DiskWriteMaxBytesPerSec = math.Round(a.ioSum[3]/float64(a.diskN)), math.Round(a.ioMax[3])
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b metrics.NodeResourceReport) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// nodeSeriesReport is each node's resources over the load, for the
// report's resources.nodes: one entry per node that has a point.
func (n *nodeProcs) nodeSeriesReport() []metrics.NodeResourcesReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeResourcesReport
	for _, s := range n.series {
		if len(s.rep.AtS) == 0 {
			continue
		}
		r := s.rep
		r.AtS = slices.Clone(r.AtS)
		r.CPUPercent, r.RSSBytes = nil, nil
		if s.cpu {
			r.CPUPercent = slices.Clone(s.rep.CPUPercent)
		}
		if s.rss {
			r.RSSBytes = slices.Clone(s.rep.RSSBytes)
		}
		if s.disk {
			r.DiskReadBytesPerSec = slices.Clone(r.DiskReadBytesPerSec)
			r.DiskWriteBytesPerSec = slices.Clone(r.DiskWriteBytesPerSec)
		} else {
			r.DiskReadBytesPerSec, r.DiskWriteBytesPerSec = nil, nil
		}
		if s.net {
			r.NetRxBytesPerSec = slices.Clone(r.NetRxBytesPerSec)
			r.NetTxBytesPerSec = slices.Clone(r.NetTxBytesPerSec)
		} else {
			r.NetRxBytesPerSec, r.NetTxBytesPerSec = nil, nil
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b metrics.NodeResourcesReport) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// exitSource is a launcher that tells of node processes exiting on their
// own, with how it names its nodes in the report.
type exitSource struct {
	key   any
	exits []core.NodeExit
	name  func(string) string
}

// exitSources lists the run's launchers' exits. n.mu must be held.
func (n *nodeProcs) exitSources() []exitSource {
	var out []exitSource
	for i, l := range n.launchers {
		out = append(out, exitSource{l, l.Exits(), func(id string) string { return launcherName(i, id) }})
	}
	if n.join != nil {
		out = append(out, exitSource{n.join, n.join.Exits(), func(id string) string { return id }})
	}
	return out
}

// takeExits describes the node processes that exited on their own since
// the last call, one line each for the run's events: a crash the run did
// not make, which the cluster has taken for one (core.ExitWatcher).
func (n *nodeProcs) takeExits() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, src := range n.exitSources() {
		seen := n.exitsSeen[src.key]
		for _, e := range src.exits[min(seen, len(src.exits)):] {
			where := "; log " + e.Log
			if e.Log == "" {
				where = "; its log is where it runs"
			}
			out = append(out, fmt.Sprintf("node %s exited on its own (pid %d): %s%s", src.name(e.ID), e.PID, e.Reason, where))
		}
		if len(src.exits) > seen {
			if n.exitsSeen == nil {
				n.exitsSeen = map[any]int{}
			}
			n.exitsSeen[src.key] = len(src.exits)
		}
	}
	return out
}

// exitsReport lists every node process that exited on its own, for the
// report: apart from the faults the run made.
func (n *nodeProcs) exitsReport() []metrics.NodeExitReport {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []metrics.NodeExitReport
	for _, src := range n.exitSources() {
		for _, e := range src.exits {
			r := metrics.NodeExitReport{ID: src.name(e.ID), PID: e.PID, Reason: e.Reason, Log: e.Log, At: e.At}
			if !n.loadStart.IsZero() {
				r.AtS = math.Round(e.At.Sub(n.loadStart).Seconds()*1000) / 1000
			}
			out = append(out, r)
		}
	}
	return out
}

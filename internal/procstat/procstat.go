// Package procstat samples the resources of a set of node processes — CPU,
// resident memory and disk traffic — so a report can name the hot node.
//
// Sources, per process, each read once per Sample:
//
//   - CPU: the process's CPU-time clock (clock_gettime on
//     MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)), which sums all its threads
//     in nanoseconds. /proc/PID/stat's utime+stime count in clock ticks
//     (10 ms), too coarse for a 100 ms sampling tick; they are the fallback
//     (through gopsutil) where the clock cannot be read.
//   - RSS: /proc/PID/statm, through gopsutil's MemoryInfo.
//   - Disk: /proc/PID/io's read_bytes and write_bytes, through gopsutil's
//     IOCounters: bytes the process made the storage layer fetch or that it
//     dirtied for writing back (not page-cache hits, not tmpfs).
//
// Network is not sampled here. Linux keeps no per-process network counters:
// /proc/PID/net/dev is the counters of the process's network namespace, so
// every node process in the host namespace would show the whole machine's
// traffic. The honest per-process sources are socket-level (the TCP_INFO byte
// counts of each socket, through sock_diag, joined to the process by its file
// descriptors) or the node's own count of the bytes through its transport,
// which it reports over its admin API; NodeResources carries such figures in
// its Net fields, and HasNet says whether it has any.
package procstat

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/shirou/gopsutil/v3/process"
	"golang.org/x/sys/unix"
)

// NodeResources is one node process's resources over the last sampling
// interval, as a report shows them.
type NodeResources struct {
	Node string `json:"node"`
	PID  int    `json:"pid"`
	// Interval is the time the rates are over; 0 on a process's first
	// sample, which has no rates yet.
	Interval time.Duration `json:"interval_ns"`
	// CPUPercent is the CPU the process used over Interval, in percent of one
	// CPU (200 is two CPUs busy).
	CPUPercent float64 `json:"cpu_percent"`
	// CPUSeconds is the CPU time it has used since it started.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSBytes is its resident memory at the sample.
	RSSBytes uint64 `json:"rss_bytes"`
	// ReadBps and WriteBps are its storage reads and writes over Interval,
	// in bytes per second.
	ReadBps  float64 `json:"read_bytes_per_s"`
	WriteBps float64 `json:"write_bytes_per_s"`
	// HasDisk says the disk counters were read; ReadBytes and WriteBytes
	// are then the process's totals since it started, the counters the
	// rates come from.
	HasDisk    bool   `json:"has_disk"`
	ReadBytes  uint64 `json:"read_bytes,omitempty"`
	WriteBytes uint64 `json:"write_bytes,omitempty"`
	// QuotaCPUs is the CPU quota the process runs under (--node-cpus), 0 for
	// none; ThrottledPercent is, of the scheduling periods over Interval in
	// which it wanted CPU, the share in which it ran out of quota and waited.
	QuotaCPUs        float64 `json:"quota_cpus,omitempty"`
	ThrottledPercent float64 `json:"throttled_percent,omitempty"`
	// HasNet says whether NetRecvBps and NetSentBps were measured (see the
	// package comment: never by this package's Sampler).
	HasNet     bool    `json:"has_net"`
	NetRecvBps float64 `json:"net_recv_bytes_per_s,omitempty"`
	NetSentBps float64 `json:"net_sent_bytes_per_s,omitempty"`
	// Err says why the process could not be sampled (it has exited, say);
	// the figures are then zero.
	Err string `json:"error,omitempty"`
}

// ErrExited is in a sample's Err when its process is gone.
var ErrExited = errors.New("process has exited")

// Sampler samples the processes it tracks. Its methods are safe for
// concurrent use; Sample is meant to be called once per tick.
type Sampler struct {
	mu    sync.Mutex
	procs map[string]*proc
	out   []NodeResources
}

type proc struct {
	pid   int
	p     *process.Process
	group *cgroup.Group // nil when not under a quota
	last  reading       // zero until the first sample
}

type reading struct {
	at                     time.Time
	cpuNs                  int64
	readB, writeB          uint64
	periods, throttled     uint64
	haveCPU, haveIO, haveQ bool
}

// New returns a Sampler tracking nothing.
func New() *Sampler { return &Sampler{procs: map[string]*proc{}} }

// Track starts sampling pid as node's process, replacing the pid it had (a
// restarted node). A process's rates start from its second sample. Untrack a
// node whose process has exited before its pid can be reused.
func (s *Sampler) Track(node string, pid int) { s.TrackIn(node, pid, nil) }

// TrackIn is Track for a process running under a CPU quota in group g: its
// samples also carry the quota and how often the process was throttled.
func (s *Sampler) TrackIn(node string, pid int, g *cgroup.Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.procs[node]; ok && old.pid == pid && old.group == g {
		return
	}
	// process.Process caches nothing Sample uses; building it directly skips
	// NewProcess's existence check and create-time read.
	s.procs[node] = &proc{pid: pid, p: &process.Process{Pid: int32(pid)}, group: g}
}

// Untrack stops sampling node.
func (s *Sampler) Untrack(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.procs, node)
}

// Sample reads every tracked process once and returns their resources over
// the time since the previous Sample, sorted by node. The returned slice is
// reused by the next Sample: copy what must outlive it.
func (s *Sampler) Sample() []NodeResources {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = s.out[:0]
	for node, pr := range s.procs {
		s.out = append(s.out, pr.sample(node))
	}
	sort.Slice(s.out, func(i, j int) bool { return s.out[i].Node < s.out[j].Node })
	return s.out
}

func (pr *proc) sample(node string) NodeResources {
	r := NodeResources{Node: node, PID: pr.pid}
	now := reading{at: time.Now()}
	if ns, err := cpuTime(pr.pid); err == nil {
		now.cpuNs, now.haveCPU = ns, true
	} else if t, terr := pr.p.Times(); terr == nil {
		now.cpuNs, now.haveCPU = int64((t.User+t.System)*1e9), true
	} else {
		r.Err = ErrExited.Error()
		pr.last = reading{}
		return r
	}
	mem, err := pr.p.MemoryInfo()
	if err != nil {
		r.Err = ErrExited.Error()
		pr.last = reading{}
		return r
	}
	r.RSSBytes = mem.RSS
	if io, err := pr.p.IOCounters(); err == nil {
		now.readB, now.writeB, now.haveIO = io.ReadBytes, io.WriteBytes, true
		r.HasDisk, r.ReadBytes, r.WriteBytes = true, io.ReadBytes, io.WriteBytes
	} else if r.Err == "" {
		r.Err = fmt.Sprintf("disk counters: %v", err)
	}
	if pr.group != nil {
		r.QuotaCPUs = pr.group.CPUs()
		if st, err := pr.group.Stat(); err == nil {
			now.periods, now.throttled, now.haveQ = st.NrPeriods, st.NrThrottled, true
		} else if r.Err == "" {
			r.Err = fmt.Sprintf("cgroup counters: %v", err)
		}
	}
	r.CPUSeconds = float64(now.cpuNs) / 1e9
	if last := pr.last; !last.at.IsZero() {
		dt := now.at.Sub(last.at)
		if sec := dt.Seconds(); sec > 0 {
			r.Interval = dt
			if d := now.cpuNs - last.cpuNs; d > 0 {
				r.CPUPercent = float64(d) / 1e9 / sec * 100
			}
			if now.haveIO && last.haveIO {
				r.ReadBps = rate(now.readB, last.readB, sec)
				r.WriteBps = rate(now.writeB, last.writeB, sec)
			}
			if now.haveQ && last.haveQ && now.periods > last.periods && now.throttled >= last.throttled {
				r.ThrottledPercent = float64(now.throttled-last.throttled) / float64(now.periods-last.periods) * 100
			}
		}
	}
	pr.last = now
	return r
}

// rate is a counter's increase per second; a counter that went back (a new
// process behind the pid) gives 0 rather than a huge figure.
func rate(now, last uint64, sec float64) float64 {
	if now < last {
		return 0
	}
	return float64(now-last) / sec
}

// cpuTime is the CPU time of all of pid's threads, in ns, from its
// process CPU-time clock: clockid ((^pid) << 3) | CPUCLOCK_SCHED (2), the
// kernel's MAKE_PROCESS_CPUCLOCK.
func cpuTime(pid int) (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^uint32(pid)<<3|2), &ts); err != nil {
		return 0, err
	}
	return ts.Nano(), nil
}

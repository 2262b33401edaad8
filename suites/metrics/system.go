package metrics

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"
	"github.com/shirou/gopsutil/v3/net"
	"github.com/shirou/gopsutil/v3/process"
)

// Gauge is one system reading. OK is false when the machine does not offer
// the counter (or on the first sample of a rate): shown as n/a, never as 0.
type Gauge struct {
	Value float64
	OK    bool
}

func gauge(v float64, ok bool) Gauge {
	if !ok {
		return Gauge{}
	}
	return Gauge{Value: v, OK: true}
}

// System is one sample of the machine and the phantom process.
type System struct {
	CPU        Gauge // machine CPU busy, percent of all cores
	ProcessCPU Gauge // phantom's CPU, percent of all cores
	RSS        Gauge // phantom's resident memory, bytes
	MemUsed    Gauge // machine memory in use, bytes
	MemTotal   Gauge // machine memory, bytes
	// NetRx and NetTx are bytes per second received and sent on all
	// interfaces, loopback included: node processes' traffic is there; an
	// embedded cluster's Unix-socket links are not (each node's own bytes
	// are counted per node instead).
	NetRx, NetTx Gauge
	DiskRead     Gauge // bytes per second read from block devices
	DiskWrite    Gauge // bytes per second written to block devices
	// DiskBusy is the share of the time the busiest block device had I/O
	// in progress, percent; DiskWriteWait the average time a write spent
	// queued and served, seconds. The kernel's disk counters: they stand in
	// for fsync time, which phantom does not time itself.
	DiskBusy      Gauge
	DiskWriteWait Gauge

	// The Go runtime's view of the process (runtime/metrics).
	SchedP99 Gauge // seconds runnable goroutines waited for a thread, 99th percentile over the last sample
	GCCPU    Gauge // percent of the process's available CPU the garbage collector took over the last sample
	Heap     Gauge // bytes of heap objects
	HeapGoal Gauge // bytes the heap may reach before the next collection ends
}

// counters are the raw, ever-growing figures a sample is computed from.
type counters struct {
	at                  time.Time
	cpuBusy, cpuTotal   float64 // seconds
	cpuOK               bool
	procCPU             float64 // seconds
	procOK              bool
	rss                 float64
	rssOK               bool
	memUsed, memTotal   float64
	memOK               bool
	netRx, netTx        float64
	netOK               bool
	diskRead, diskWrite float64
	diskOK              bool
	diskBusyMs          float64 // the busiest device's time with I/O in progress
	diskWrites          float64
	diskWriteMs         float64
}

// Sampler reads system counters and turns them into gauges, with rates as
// deltas over the elapsed time between two samples. One goroutine (Run)
// samples; any goroutine may read Latest and Summary.
type Sampler struct {
	read   func() counters
	rt     func() runtimeSample // nil: the runtime's gauges are n/a
	prev   counters
	primed bool

	latest atomic.Pointer[System]
	mu     sync.Mutex
	sum    Resources
}

// NewSampler returns a sampler of this machine and process.
func NewSampler() *Sampler {
	proc, _ := process.NewProcess(int32(os.Getpid()))
	s := newSampler(func() counters { return readCounters(proc) })
	s.rt = newRuntimeReader().read
	return s
}

func newSampler(read func() counters) *Sampler {
	s := &Sampler{read: read}
	s.latest.Store(&System{})
	return s
}

// Run samples every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context, interval time.Duration) {
	s.Sample()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sample()
		}
	}
}

// Latest is the most recent sample.
func (s *Sampler) Latest() System { return *s.latest.Load() }

// Summary is the average and maximum of every gauge sampled so far.
func (s *Sampler) Summary() Resources {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// Sample reads the counters now, publishes the resulting gauges and returns them.
func (s *Sampler) Sample() System {
	c := s.read()
	var sys System
	sys.RSS = gauge(c.rss, c.rssOK)
	sys.MemUsed = gauge(c.memUsed, c.memOK)
	sys.MemTotal = gauge(c.memTotal, c.memOK)
	if s.rt != nil {
		r := s.rt()
		sys.SchedP99, sys.GCCPU, sys.Heap, sys.HeapGoal = r.SchedP99, r.GCCPU, r.Heap, r.HeapGoal
	}
	if s.primed {
		p := s.prev
		dt := c.at.Sub(p.at).Seconds()
		ok := dt > 0
		perSec := func(now, before float64, valid bool) Gauge {
			return gauge(max(now-before, 0)/dt, ok && valid)
		}
		if dTotal := c.cpuTotal - p.cpuTotal; dTotal > 0 {
			sys.CPU = gauge(100*max(c.cpuBusy-p.cpuBusy, 0)/dTotal, c.cpuOK && p.cpuOK)
		}
		// Over the machine's CPU time, not the wall clock: the two are read
		// together, so a sampler delayed by a busy machine is not fooled.
		if dTotal := c.cpuTotal - p.cpuTotal; dTotal > 0 {
			sys.ProcessCPU = gauge(min(100*max(c.procCPU-p.procCPU, 0)/dTotal, 100), c.cpuOK && p.cpuOK && c.procOK && p.procOK)
		}
		sys.NetRx = perSec(c.netRx, p.netRx, c.netOK && p.netOK)
		sys.NetTx = perSec(c.netTx, p.netTx, c.netOK && p.netOK)
		sys.DiskRead = perSec(c.diskRead, p.diskRead, c.diskOK && p.diskOK)
		sys.DiskWrite = perSec(c.diskWrite, p.diskWrite, c.diskOK && p.diskOK)
		if diskOK := c.diskOK && p.diskOK; diskOK && ok {
			// The busiest device's counter may belong to another device
			// than last time; a negative delta is no reading, not zero.
			if d := c.diskBusyMs - p.diskBusyMs; d >= 0 {
				sys.DiskBusy = gauge(min(100*d/1000/dt, 100), true)
			}
			if n := c.diskWrites - p.diskWrites; n > 0 {
				sys.DiskWriteWait = gauge(max(c.diskWriteMs-p.diskWriteMs, 0)/1000/n, true)
			}
		}
	}
	s.prev, s.primed = c, true
	s.latest.Store(&sys)
	s.mu.Lock()
	s.sum.add(sys)
	s.mu.Unlock()
	return sys
}

func readCounters(proc *process.Process) counters {
	var c counters
	if ts, err := cpu.Times(false); err == nil && len(ts) > 0 {
		t := ts[0]
		c.cpuTotal = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
		c.cpuBusy = c.cpuTotal - t.Idle - t.Iowait
		c.cpuOK = true
	}
	if proc != nil {
		if t, err := proc.Times(); err == nil {
			c.procCPU, c.procOK = t.User+t.System, true
		}
		if m, err := proc.MemoryInfo(); err == nil {
			c.rss, c.rssOK = float64(m.RSS), true
		}
	}
	// Byte counters are rates over the wall clock; read them right after it.
	c.at = time.Now()
	if v, err := mem.VirtualMemory(); err == nil {
		c.memUsed, c.memTotal, c.memOK = float64(v.Used), float64(v.Total), true
	}
	if n, err := net.IOCounters(false); err == nil && len(n) > 0 {
		c.netRx, c.netTx, c.netOK = float64(n[0].BytesRecv), float64(n[0].BytesSent), true
	}
	if d, err := disk.IOCounters(); err == nil && len(d) > 0 {
		for name, st := range d {
			if isWholeDisk(name, d) {
				c.diskRead += float64(st.ReadBytes)
				c.diskWrite += float64(st.WriteBytes)
				c.diskWrites += float64(st.WriteCount)
				c.diskWriteMs += float64(st.WriteTime)
				c.diskBusyMs = max(c.diskBusyMs, float64(st.IoTime))
			}
		}
		c.diskOK = true
	}
	return c
}

// isWholeDisk keeps partitions (sda1 of sda, nvme0n1p1 of nvme0n1) and
// loop and ram devices out of the sum, so no byte is counted twice.
func isWholeDisk[V any](name string, all map[string]V) bool {
	if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
		return false
	}
	for other := range all {
		if other != name && strings.HasPrefix(name, other) {
			return false
		}
	}
	return true
}

// Stat is the average and maximum of one gauge over a run.
type Stat struct {
	Avg, Max float64
	N        int // samples that had a value
}

func (s *Stat) add(g Gauge) {
	if !g.OK {
		return
	}
	s.N++
	s.Avg += (g.Value - s.Avg) / float64(s.N)
	if s.N == 1 || g.Value > s.Max {
		s.Max = g.Value
	}
}

// Resources summarises the system gauges over a run.
type Resources struct {
	CPU, ProcessCPU, RSS, MemUsed, NetRx, NetTx, DiskRead, DiskWrite Stat
}

func (r *Resources) add(s System) {
	r.CPU.add(s.CPU)
	r.ProcessCPU.add(s.ProcessCPU)
	r.RSS.add(s.RSS)
	r.MemUsed.add(s.MemUsed)
	r.NetRx.add(s.NetRx)
	r.NetTx.add(s.NetTx)
	r.DiskRead.add(s.DiskRead)
	r.DiskWrite.add(s.DiskWrite)
}

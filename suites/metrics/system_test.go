package metrics

import (
	"testing"
	"time"
)

func TestSamplerRatesAreDeltasOverElapsed(t *testing.T) {
	t0 := time.Unix(100, 0)
	samples := []counters{
		{at: t0, cpuBusy: 10, cpuTotal: 100, cpuOK: true, procCPU: 1, procOK: true, rss: 100, rssOK: true,
			netRx: 1000, netTx: 0, netOK: true},
		{at: t0.Add(2 * time.Second), cpuBusy: 13, cpuTotal: 104, cpuOK: true, procCPU: 2, procOK: true, rss: 200, rssOK: true,
			netRx: 5000, netTx: 2000, netOK: true},
	}
	i := 0
	s := newSampler(func() counters { c := samples[i]; i++; return c })
	first := s.Sample()
	if first.CPU.OK || first.NetRx.OK {
		t.Errorf("first sample has rates %+v; rates need two samples", first)
	}
	if !first.RSS.OK || first.RSS.Value != 100 {
		t.Errorf("first RSS %+v, want 100", first.RSS)
	}
	got := s.Sample()
	if got.CPU.Value != 75 { // 3 busy of 4 seconds
		t.Errorf("cpu %v, want 75%%", got.CPU.Value)
	}
	if got.ProcessCPU.Value != 25 { // 1 s of the machine's 4 s of CPU time
		t.Errorf("process cpu %v, want 25%%", got.ProcessCPU.Value)
	}
	if got.NetRx.Value != 2000 || got.NetTx.Value != 1000 {
		t.Errorf("net rx %v tx %v, want 2000 and 1000 B/s", got.NetRx.Value, got.NetTx.Value)
	}
	if got.DiskRead.OK || got.MemUsed.OK {
		t.Errorf("missing counters shown as values: disk %+v mem %+v", got.DiskRead, got.MemUsed)
	}
	sum := s.Summary()
	if sum.RSS.N != 2 || sum.RSS.Avg != 150 || sum.RSS.Max != 200 {
		t.Errorf("rss summary %+v, want avg 150 max 200 over 2", sum.RSS)
	}
	if sum.DiskRead.N != 0 {
		t.Errorf("disk summary %+v, want no samples", sum.DiskRead)
	}
}

func TestRealSamplerReadsThisMachine(t *testing.T) {
	s := NewSampler()
	s.Sample()
	time.Sleep(50 * time.Millisecond)
	got := s.Sample()
	if !got.RSS.OK || got.RSS.Value <= 0 {
		t.Errorf("RSS of this process not read: %+v", got.RSS)
	}
	if !got.CPU.OK {
		t.Errorf("machine CPU not read: %+v", got.CPU)
	}
}

func TestIsWholeDisk(t *testing.T) {
	all := map[string]int{"sda": 0, "sda1": 0, "nvme0n1": 0, "nvme0n1p1": 0, "loop0": 0, "vda": 0}
	for name, want := range map[string]bool{"sda": true, "sda1": false, "nvme0n1": true, "nvme0n1p1": false, "loop0": false, "vda": true} {
		if got := isWholeDisk(name, all); got != want {
			t.Errorf("isWholeDisk(%s) = %v, want %v", name, got, want)
		}
	}
}

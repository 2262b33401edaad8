package metrics

import (
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// calm is a run with room to spare on every signal.
func calm() Signals {
	return Signals{
		CPU: gauge(35, true), ProcessCPU: gauge(30, true), SchedP99: gauge(0.0002, true), GCCPU: gauge(3, true),
		Heap: gauge(200<<20, true), RSS: gauge(400<<20, true), Budget: 4 << 30,
		NetRx: gauge(50<<20, true), NetTx: gauge(50<<20, true),
		Disk: true, DiskBusy: gauge(10, true), DiskWriteWait: gauge(0.001, true),
		ReplLag: 3, Uncommitted: 2, ElectionsPerMin: gauge(0, true),
	}
}

// TestRules gives each rule the one signal set it exists for, on an
// otherwise calm run: it fires there, and every other rule stays quiet.
func TestRules(t *testing.T) {
	th := DefaultThresholds()
	cases := []struct {
		rule Resource
		set  func(*Signals)
		says string
	}{
		{ResourceCPU, func(s *Signals) { s.CPU = gauge(98, true) }, "98% CPU"},
		{ResourceCPU, func(s *Signals) { s.ProcessCPU = gauge(95, true) }, "phantom 95% CPU"},
		{ResourceMemory, func(s *Signals) { s.Heap = gauge(3.6*(1<<30), true) }, "heap 3.60GiB of 4.00GiB budget"},
		{ResourceMemory, func(s *Signals) { s.RSS = gauge(5<<30, true) }, "RSS 5.00GiB over 4.00GiB budget"},
		{ResourceGC, func(s *Signals) { s.GCCPU = gauge(40, true) }, "GC 40% of CPU"},
		{ResourceDisk, func(s *Signals) { s.DiskBusy = gauge(95, true) }, "disk 95% busy"},
		{ResourceDisk, func(s *Signals) { s.DiskWriteWait = gauge(0.030, true) }, "writes wait 30.0ms"},
		{ResourceNetwork, func(s *Signals) { s.NetTx = gauge(2<<30, true) }, "network 2.00GiB/s"},
		{ResourceNetwork, func(s *Signals) { s.NetTx, s.NetNode, s.NetNodeBps = gauge(2<<30, true), "n3", 1<<30 }, "network 2.00GiB/s (busiest node n3, 1.00GiB/s)"},
		{ResourceNetwork, func(s *Signals) { s.NetRx, s.NetTx, s.NetNode, s.NetNodeBps = Gauge{}, Gauge{}, "n2", 1.5*(1<<30) }, "node n2 network 1.50GiB/s"},
		{ResourceScheduler, func(s *Signals) { s.SchedP99 = gauge(0.006, true) }, "scheduler p99 6.00ms"},
		{ResourceScheduler, func(s *Signals) { s.SchedP99 = gauge(0.014, true) }, "scheduler p99 14.0ms — heartbeats late"},
		{ResourceReplication, func(s *Signals) { s.ReplLag = 5000 }, "replicas trail by 5,000 entries"},
		{ResourceReplication, func(s *Signals) { s.Uncommitted = 2000 }, "2,000 appends in flight"},
		{ResourceElections, func(s *Signals) { s.ElectionsPerMin = gauge(12, true) }, "12 elections/min"},
		{ResourceElections, func(s *Signals) { s.ElectionsPerMin, s.Spontaneous = gauge(3, true), true }, "3 spontaneous elections/min"},
	}
	for _, c := range cases {
		t.Run(c.rule.String()+"/"+c.says, func(t *testing.T) {
			sig := calm()
			c.set(&sig)
			for r := Resource(0); r < numResources; r++ {
				f, fired := rules[r](sig, th)
				if r == c.rule {
					if !fired || f.score < 1 {
						t.Fatalf("rule %s did not fire on its case (score %.2f)", r, f.score)
					}
					if f.evidence != c.says {
						t.Errorf("rule %s says %q, want %q", r, f.evidence, c.says)
					}
				} else if fired {
					t.Errorf("rule %s fired on %s's case: %q", r, c.rule, f.evidence)
				}
			}
			b := Diagnose(sig, th)
			if b.Resource != c.rule || b.Fired != 1<<c.rule {
				t.Errorf("Diagnose = %s (fired %v), want %s alone", b.Resource, b.FiredNames(), c.rule)
			}
			if !strings.HasPrefix(b.Line, c.rule.Verdict()+": ") {
				t.Errorf("line %q does not lead with %q", b.Line, c.rule.Verdict())
			}
		})
	}
}

// TestRulesQuietWhenCalmOrUnmeasured: no rule fires on a calm run, nor on
// a run where nothing could be read (n/a is not zero, and not a verdict).
func TestRulesQuietWhenCalmOrUnmeasured(t *testing.T) {
	th := DefaultThresholds()
	sat := calm()
	sat.Disk = false // memory storage: a busy disk is someone else's
	sat.DiskBusy = gauge(100, true)
	for name, sig := range map[string]Signals{"calm": calm(), "nothing read": {}, "memory storage": sat} {
		b := Diagnose(sig, th)
		if b.Resource != ResourceNone || b.Fired != 0 {
			t.Errorf("%s: Diagnose = %s, fired %v: %q", name, b.Resource, b.FiredNames(), b.Line)
		}
		if !strings.HasPrefix(b.Line, "no bottleneck: ") {
			t.Errorf("%s: line %q", name, b.Line)
		}
	}
}

// TestDiagnoseLeadsWithTheRootCause: a saturated CPU explains the late
// scheduler and the elections, so it leads even though the symptoms are
// further past their thresholds; the line keeps their evidence.
func TestDiagnoseLeadsWithTheRootCause(t *testing.T) {
	sig := calm()
	sig.CPU = gauge(98, true)
	sig.SchedP99 = gauge(0.014, true)
	sig.ElectionsPerMin, sig.Spontaneous = gauge(3, true), true
	b := Diagnose(sig, DefaultThresholds())
	want := "CPU-bound: 98% CPU, scheduler p99 14.0ms — heartbeats late, 3 spontaneous elections/min"
	if b.Resource != ResourceCPU || b.Line != want {
		t.Errorf("Diagnose = %s %q, want %q", b.Resource, b.Line, want)
	}
	if got := strings.Join(b.FiredNames(), ","); got != "cpu,scheduler,elections" {
		t.Errorf("fired %s", got)
	}
	// Among root causes the furthest past its threshold leads.
	sig.GCCPU = gauge(80, true) // 3.2× its threshold, against CPU's 1.09×
	if b := Diagnose(sig, DefaultThresholds()); b.Resource != ResourceGC {
		t.Errorf("with GC at 80%%, Diagnose = %s, want gc", b.Resource)
	}
}

// In processes mode a CPU verdict names the node whose process is hottest,
// from the snapshot's nodes; embedded nodes (no process of their own) are
// never named.
func TestDiagnoseNamesTheHotNode(t *testing.T) {
	d := NewDiagnoser(1<<30, false)
	snap := &Snapshot{Phase: PhaseRunning, Cluster: Cluster{Nodes: []Node{
		{ID: "n1", Up: true, PID: 11, CPUPercent: 40},
		{ID: "n2", Up: true, PID: 12, CPUPercent: 93},
		{ID: "n3", Up: false, PID: 13, CPUPercent: 99}, // down: its last figure is stale
	}}}
	sig := d.SignalsOf(snap)
	if sig.HotNode != "n2" || sig.HotNodeCPU != 93 {
		t.Fatalf("hot node %q at %.0f%%, want n2 at 93%%", sig.HotNode, sig.HotNodeCPU)
	}
	sig.CPU = gauge(98, true)
	if b := Diagnose(sig, DefaultThresholds()); !strings.Contains(b.Line, "98% CPU (hottest node n2, 93% of a core)") {
		t.Errorf("line %q does not name the hot node", b.Line)
	}
	embedded := &Snapshot{Phase: PhaseRunning, Cluster: Cluster{Nodes: []Node{{ID: "n1", Up: true}}}}
	if sig := d.SignalsOf(embedded); sig.HotNode != "" {
		t.Errorf("an embedded node named hot: %q", sig.HotNode)
	}
}

// A network verdict names the node whose own count of its traffic is the
// highest; a node that is down or counts nothing is never named.
func TestDiagnoseNamesTheNetworkNode(t *testing.T) {
	d := NewDiagnoser(1<<30, false)
	snap := &Snapshot{Phase: PhaseRunning, Cluster: Cluster{Nodes: []Node{
		{ID: "n1", Up: true, PID: 11, HasNet: true, NetRecvBps: 300 << 20, NetSentBps: 100 << 20},
		{ID: "n2", Up: true, PID: 12, HasNet: true, NetRecvBps: 200 << 20, NetSentBps: 700 << 20},
		{ID: "n3", Up: false, PID: 13, HasNet: true, NetRecvBps: 900 << 20, NetSentBps: 0}, // down: stale
		{ID: "n4", Up: true, PID: 14, NetRecvBps: -1, NetSentBps: -1},
	}}}
	sig := d.SignalsOf(snap)
	if sig.NetNode != "n2" || sig.NetNodeBps != 700<<20 {
		t.Fatalf("network node %q at %.0f B/s, want n2 at %d", sig.NetNode, sig.NetNodeBps, 700<<20)
	}
	sig.NetTx = gauge(1.5*(1<<30), true)
	if b := Diagnose(sig, DefaultThresholds()); !strings.Contains(b.Line, "network 1.50GiB/s (busiest node n2, 700MiB/s)") {
		t.Errorf("line %q does not name the busiest node", b.Line)
	}
	embedded := &Snapshot{Phase: PhaseRunning, Cluster: Cluster{Nodes: []Node{{ID: "n1", Up: true}}}}
	if sig := d.SignalsOf(embedded); sig.NetNode != "" {
		t.Errorf("an embedded node named: %q", sig.NetNode)
	}
}

// TestDiagnoserElectionRate counts spontaneous elections over the last
// minute of load, and a lone election early in a run is not a storm; the
// elections faults caused are the experiment and never count.
func TestDiagnoserElectionRate(t *testing.T) {
	d := NewDiagnoser(4<<30, false)
	snap := func(at time.Duration, changes uint64) *Snapshot {
		return &Snapshot{Phase: PhaseRunning, Elapsed: at, Cluster: Cluster{LeaderChanges: 1000 + 2*changes},
			Elections: Elections{Spontaneous: int(changes), Caused: 1000 + int(changes)}}
	}
	// 20 shards elected their first leaders before the load: not counted.
	d.Observe(snap(0, 20))
	b, _ := d.Observe(snap(5*time.Second, 21))
	if b.Fired&(1<<ResourceElections) != 0 {
		t.Errorf("one election in 5 s fired: %q", b.Line)
	}
	for at := 6 * time.Second; at <= 30*time.Second; at += time.Second {
		b, _ = d.Observe(snap(at, 21+uint64(at/time.Second)-5))
	}
	if b.Resource != ResourceElections || !strings.Contains(b.Line, "spontaneous elections/min") {
		t.Errorf("an election a second: %s %q", b.Resource, b.Line)
	}
	// A minute later with no more elections, the window has forgotten them.
	for at := 31 * time.Second; at <= 100*time.Second; at += time.Second {
		b, _ = d.Observe(snap(at, 46))
	}
	if b.Fired != 0 {
		t.Errorf("a quiet minute still fires %v: %q", b.FiredNames(), b.Line)
	}
}

// TestBottleneckReport tallies the verdicts of a run: the most frequent,
// the worst with its signals, and each verdict's rules; paused ticks and
// ticks out of load are not judged.
func TestBottleneckReport(t *testing.T) {
	d := NewDiagnoser(4<<30, false)
	cpu := System{CPU: gauge(95, true), SchedP99: gauge(0.020, true)}
	quiet := System{CPU: gauge(20, true)}
	d.Observe(&Snapshot{Phase: PhaseStarting, System: cpu})
	var tally BottleneckTally
	for i, sys := range []System{quiet, cpu, cpu, quiet, quiet, quiet} {
		_, tally = d.Observe(&Snapshot{Phase: PhaseRunning, Elapsed: time.Duration(i) * time.Second, System: sys})
	}
	d.Observe(&Snapshot{Phase: PhaseRunning, Paused: true, System: cpu})
	r := tally.Report()
	if r.Ticks != 6 || r.MostFrequent != "none" {
		t.Fatalf("ticks %d, most frequent %s; want 6, none", r.Ticks, r.MostFrequent)
	}
	if r.Worst == nil || r.Worst.Resource != "cpu" || r.Worst.AtSeconds != 1 || strings.Join(r.Worst.Signals, ",") != "cpu,scheduler" {
		t.Fatalf("worst %+v", r.Worst)
	}
	if v := r.Verdicts[1]; v.Resource != "cpu" || v.Ticks != 2 || v.Signals["scheduler"] != 2 {
		t.Errorf("cpu verdict %+v", v)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"most_frequent":"none"`) {
		t.Errorf("json %s", js)
	}
	if (BottleneckTally{}).Report() != nil {
		t.Error("a run with no tick of load has a bottleneck report")
	}
}

// BenchmarkRuntimeRead is the cost of reading the Go runtime's signals
// each tick: microseconds, nothing allocated.
func BenchmarkRuntimeRead(b *testing.B) {
	r := newRuntimeReader()
	r.read()
	b.ReportAllocs()
	for b.Loop() {
		r.read()
	}
}

// BenchmarkSignalsOf is the cost of reading a 20-shard snapshot's signals.
func BenchmarkSignalsOf(b *testing.B) {
	d := NewDiagnoser(4<<30, false)
	s := &Snapshot{Phase: PhaseRunning, Cluster: Cluster{Shards: make([]Shard, 20)}}
	b.ReportAllocs()
	for b.Loop() {
		s.Elapsed += 250 * time.Millisecond
		d.SignalsOf(s)
	}
}

// BenchmarkObserve is a whole tick's diagnosis: signals, rules, the line.
func BenchmarkObserve(b *testing.B) {
	d := NewDiagnoser(4<<30, false)
	s := &Snapshot{Phase: PhaseRunning, Cluster: Cluster{Shards: make([]Shard, 20)},
		System: System{CPU: gauge(98, true), SchedP99: gauge(0.014, true)}}
	b.ReportAllocs()
	for b.Loop() {
		s.Elapsed += 250 * time.Millisecond
		d.Observe(s)
	}
}

func TestHistQuantile(t *testing.T) {
	buckets := []float64{0, 0.001, 0.01, 0.1}
	if p, ok := histQuantile(buckets, []uint64{0, 0, 0}, 0.99); ok {
		t.Errorf("empty histogram gave %v", p)
	}
	if p, _ := histQuantile(buckets, []uint64{98, 1, 1}, 0.99); p != 0.01 {
		t.Errorf("p99 = %v, want 0.01", p)
	}
	if p, _ := histQuantile(buckets, []uint64{90, 0, 10}, 0.99); p != 0.1 {
		t.Errorf("p99 = %v, want 0.1", p)
	}
}

// TestRuntimeReaderReads: the first read has no interval to give rates
// over; the next, after goroutines ran and a collection ended, has them.
func TestRuntimeReaderReads(t *testing.T) {
	r := newRuntimeReader()
	first := r.read()
	if first.SchedP99.OK || first.GCCPU.OK {
		t.Errorf("the first read has no interval, yet gave rates: %+v", first)
	}
	if !first.Heap.OK || first.Heap.Value <= 0 {
		t.Errorf("heap not read: %+v", first.Heap)
	}
	done := make(chan struct{})
	for range 50 {
		go func() { done <- struct{}{} }()
	}
	for range 50 {
		<-done
	}
	runtime.GC() // the runtime counts CPU by class when a collection ends
	if s := r.read(); !s.SchedP99.OK || !s.GCCPU.OK {
		t.Errorf("second read: %+v", s)
	}
}

// TestRuntimeReaderSchedP99IsPerInterval: the scheduler's p99 is over the
// goroutines made runnable since the previous read, not since the process
// started, so a burst of waiting (a cluster starting on few cores) shows in
// its own tick and is gone from the next. One interval holds goroutines
// that wait behind a goroutine spinning on the only thread; the next has as
// many that wait for nothing. Read cumulatively, the second p99 would still
// be the first's.
func TestRuntimeReaderSchedP99IsPerInterval(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 2000 // the runtime times one goroutine in 8
	burst := func(spin time.Duration) {
		var wg sync.WaitGroup
		stop := time.Now().Add(spin)
		if spin > 0 {
			wg.Go(func() {
				for time.Now().Before(stop) { // preempted only by the runtime, every 10 ms
				}
			})
			runtime.Gosched() // let the spinner take the thread
		}
		for range n {
			wg.Go(func() {})
		}
		wg.Wait()
	}
	r := newRuntimeReader()
	r.read()
	burst(60 * time.Millisecond)
	slow := r.read()
	if !slow.SchedP99.OK {
		t.Fatalf("no p99: %+v", slow.SchedP99)
	}
	if slow.SchedP99.Value < 0.005 {
		t.Fatalf("goroutines waiting behind a 60 ms spinner gave p99 %v s: the test's burst did not make them wait", slow.SchedP99.Value)
	}
	// Another process may take the core during a quiet interval too, so
	// a few are tried: counted cumulatively, the burst's waits (one
	// sample in two so far) would hold the p99 up through all of them.
	var quick []float64
	for range 5 {
		burst(0)
		q := r.read()
		if !q.SchedP99.OK {
			t.Fatalf("no p99 after a quiet interval: %+v", q.SchedP99)
		}
		if q.SchedP99.Value < slow.SchedP99.Value/2 {
			return
		}
		quick = append(quick, q.SchedP99.Value)
	}
	t.Errorf("p99 %v s after quiet intervals, %v s after the burst: the burst is still counted", quick, slow.SchedP99.Value)
}

// Over loopback the bytes between nodes are the cores' copies: with the
// CPU saturated too, the line blames the CPU even where the bytes are
// further past their threshold, and names them loopback; with the CPU
// calm they still lead, and over a real network they are a root cause of
// their own.
func TestLoopbackNetworkIsCPU(t *testing.T) {
	th := DefaultThresholds()
	sig := calm()
	sig.CPU = gauge(97, true)            // 1.08× its threshold
	sig.NetTx = gauge(1.3*(1<<30), true) // 1.3× its threshold
	if b := Diagnose(sig, th); b.Resource != ResourceNetwork || b.Line != "network-bound: network 1.30GiB/s, 97% CPU" {
		t.Errorf("over a real network: %s %q", b.Resource, b.Line)
	}
	sig.Loopback = true
	if b := Diagnose(sig, th); b.Resource != ResourceCPU || b.Line != "CPU-bound: 97% CPU, loopback 1.30GiB/s" {
		t.Errorf("over loopback: %s %q, want CPU-bound with the bytes as evidence", b.Resource, b.Line)
	}
	sig.CPU = gauge(60, true)
	if b := Diagnose(sig, th); b.Resource != ResourceNetwork || b.Line != "network-bound: loopback 1.30GiB/s" {
		t.Errorf("over loopback, CPU calm: %s %q", b.Resource, b.Line)
	}
	// A symptom that fires beside loopback bytes still gives way to them:
	// no root cause fired, and the furthest past its threshold leads.
	sig.SchedP99 = gauge(0.006, true) // 1.2×
	if b := Diagnose(sig, th); b.Resource != ResourceNetwork {
		t.Errorf("over loopback with the scheduler late: %s %q", b.Resource, b.Line)
	}
	d := NewDiagnoser(4<<30, false)
	d.OnLoopback(true)
	if !d.SignalsOf(&Snapshot{}).Loopback {
		t.Error("a Diagnoser told its cluster is local does not say so in its signals")
	}
}

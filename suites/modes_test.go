package suites

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// The consensus, txn and concurrency suites, with their correctness checks,
// pass with the nodes inside this process and with each node a process of
// its own; in processes mode no node process outlives the run.
func TestSuitesInEveryClusterMode(t *testing.T) {
	for _, mode := range []string{ClusterEmbedded, ClusterProcesses} {
		for _, suite := range []string{"consensus", "txn", "concurrency"} {
			t.Run(mode+"/"+suite, func(t *testing.T) {
				report := runReal(t, func(c *Config) {
					c.Cluster = mode
					c.Suites = []string{suite}
					c.Clients = 4
					c.Duration = 2 * time.Second
					c.Transactions = 150
					c.NodeLogDir = t.TempDir()
				})
				if report.Cluster.Mode != mode {
					t.Errorf("report says mode %q, want %q", report.Cluster.Mode, mode)
				}
				if len(report.Checks) == 0 {
					t.Fatal("no correctness check ran")
				}
				for _, c := range report.Checks {
					if c.Verdict != metrics.CheckOK {
						t.Errorf("check %s: %s %s", c.Name, c.Verdict, c.Detail)
					}
				}
				var primary uint64
				for _, o := range report.Suites[suite].Ops {
					primary += o.Count
				}
				if primary == 0 {
					t.Error("no op completed")
				}
				checkPhasesInMode(t, report, mode, suite)
				procs := report.Cluster.NodeLogs
				if mode == ClusterProcesses && len(procs) < 3 {
					t.Fatalf("report names %d node processes, want at least 3: %+v", len(procs), procs)
				}
				if mode == ClusterEmbedded && len(procs) != 0 {
					t.Errorf("embedded run names node processes: %+v", procs)
				}
				res := report.Cluster.NodeResources
				if mode == ClusterProcesses {
					if len(res) < 3 {
						t.Errorf("resources of %d node processes, want at least 3: %+v", len(res), res)
					}
					for _, r := range res {
						// The nodes the load ran on used CPU; a node the
						// suite added at its end may have been seen at a
						// tick or two, idle.
						if r.RSSMaxBytes == 0 || (r.ID <= "n3" && (r.CPUSamples == 0 || r.CPUAvgPercent <= 0)) {
							t.Errorf("node %s used %.1f%% CPU over %d ticks and %d bytes: not measured", r.ID, r.CPUAvgPercent, r.CPUSamples, r.RSSMaxBytes)
						}
					}
				} else {
					// The embedded nodes' network, their Raft bytes, is
					// all they have of their own: no process, CPU,
					// memory or disk.
					if len(res) < 3 {
						t.Errorf("network of %d embedded nodes, want at least 3: %+v", len(res), res)
					}
					for _, r := range res {
						if r.PID != 0 || r.CPUSamples != 0 || r.RSSMaxBytes != 0 || r.DiskSamples != 0 {
							t.Errorf("embedded node %s reports figures of a process: %+v", r.ID, r)
						}
						if r.ID <= "n3" && (r.NetSamples == 0 || r.NetSentAvgBytesPerSec <= 0 || r.NetRecvAvgBytesPerSec <= 0) {
							t.Errorf("embedded node %s: network not measured: %+v", r.ID, r)
						}
					}
				}
				for _, p := range procs {
					if p.Log == "" {
						t.Errorf("node %s has no log", p.ID)
					}
					if syscall.Kill(p.PID, 0) == nil {
						t.Errorf("node %s (pid %d) outlived the run", p.ID, p.PID)
					}
				}
			})
		}
	}
}

// checkPhasesInMode checks that the report splits the suite's timed ops
// into the phases the core times, in every mode, with the hop between
// phantom and the node (line and wire) only when the nodes are processes
// (started by the run or joined).
func checkPhasesInMode(t *testing.T, report *metrics.Report, mode, suite string) {
	t.Helper()
	want := map[string][]string{
		"consensus.submit": {"queue", "append", "replicate+commit", "apply"},
		"consensus.read":   {"read-index", "apply-wait"},
		"txn.decide":       {"batch", "queue", "append", "replicate+commit", "apply"},
	}
	for op, phases := range want {
		o, ok := report.Suites[suite].Ops[op]
		if !ok {
			continue // another suite's op
		}
		if o.Count == 0 {
			t.Errorf("%s: no op to split", op)
			continue
		}
		for _, name := range phases {
			if p, ok := o.Phases[name]; !ok || p.Count == 0 || (name != "batch" && p.LatencyMs.Avg <= 0) {
				t.Errorf("%s has phase %q %+v (present %v); want it timed", op, name, p, ok)
			}
		}
		// The hop: the wire in every call to a node process; the line
		// (the wait in phantom's line to the node) in the calls that go
		// through it, the writes, and never in reads. None in embedded mode.
		hop := map[string]bool{"wire": true, "line": op != "consensus.read"}
		for name, want := range hop {
			p, ok := o.Phases[name]
			switch {
			case mode == ClusterEmbedded || !want:
				if ok {
					t.Errorf("%s: a %s phase %+v in %s mode", op, name, p, mode)
				}
			case !ok || p.Count == 0 || p.LatencyMs.Avg <= 0:
				t.Errorf("%s: %s %+v (present %v); want the time between phantom and its node processes", op, name, p, ok)
			}
		}
		sum := 0.0
		for _, p := range o.Phases {
			sum += p.LatencyMs.Avg * float64(p.Count)
		}
		// The phases add up to at most the op's time (a little slack for
		// the histograms' rounding of averages).
		if total := o.LatencyMs.Avg * float64(o.Count); sum > total*1.02 {
			t.Errorf("%s: phases add up to %.1f ms, more than the op's %.1f ms", op, sum, total)
		}
	}
}

// A node process SIGKILLed in the middle of a run: the linearizability
// check stays ok, the load goes on after the crash, the shards it led
// elect new leaders and the run measures how long that took, and the
// restarted node is a new process.
func TestProcessKilledMidRun(t *testing.T) {
	var at []knob.TimedAction
	for _, s := range []string{"1500ms:crash", "3500ms:restart"} {
		a, err := knob.ParseTimed(s)
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, a)
	}
	report := runReal(t, func(c *Config) {
		c.Cluster = ClusterProcesses
		c.Clients = 4
		c.Duration = 6 * time.Second
		c.At = at
		c.NodeLogDir = t.TempDir()
	})
	for _, c := range report.Checks {
		if c.Verdict != metrics.CheckOK {
			t.Errorf("check %s: %s %s", c.Name, c.Verdict, c.Detail)
		}
	}
	if len(report.Checks) == 0 {
		t.Fatal("no check ran")
	}
	var crashed string
	measured := false
	for _, e := range report.Events {
		if rest, ok := strings.CutPrefix(e.Message, "crashed "); ok {
			crashed, _, _ = strings.Cut(rest, " ")
		}
		// "shard 1 leader → n2 in 94ms (term 3)"
		if strings.Contains(e.Message, "leader →") && strings.Contains(e.Message, " in ") && e.AtSeconds > 1.4 {
			measured = true
		}
	}
	if crashed == "" {
		t.Fatalf("no crash in the events: %+v", report.Events)
	}
	if !measured {
		t.Errorf("no election after the crash was timed: %+v", report.Events)
	}
	if report.Elections == nil || report.Elections.ByCause["crash"] == 0 {
		t.Errorf("no election put down to the crash: %+v", report.Elections)
	}
	var pids []int
	for _, p := range report.Cluster.NodeLogs {
		if p.ID == crashed {
			pids = append(pids, p.PID)
		}
	}
	if len(pids) != 2 || pids[0] == pids[1] {
		t.Errorf("node %s ran as processes %v, want the first and its restart", crashed, pids)
	}
	// The load resumed: the epoch after the crash completed ops.
	after := 0
	for _, ep := range report.Epochs {
		if ep.StartS >= 1.4 {
			for _, o := range ep.Ops {
				after += int(o.Count)
			}
		}
	}
	if after == 0 {
		t.Errorf("no op completed after the crash: %+v", report.Epochs)
	}
}

// Join mode: a run drives nodes the test started itself, found from one of
// them, with the checks on; the nodes outlive the run.
func TestJoinModeRun(t *testing.T) {
	var addrs []string
	for i := range 3 {
		id := fmt.Sprintf("ext%d", i)
		args := []string{"node", "--id", id, "--log", filepath.Join(t.TempDir(), id+".log")}
		if len(addrs) > 0 {
			args = append(args, "--peers", strings.Join(addrs, ","))
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), node.ChildEnv+"=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, strings.TrimSpace(strings.TrimPrefix(line, "phantom node "+id+" serving on ")))
	}
	mode := ClusterJoinPrefix + addrs[2]
	report := runReal(t, func(c *Config) {
		c.Cluster = mode
		c.Suites = []string{"consensus"}
		c.Clients = 4
		c.Duration = 2 * time.Second
	})
	if report.Cluster.Mode != mode {
		t.Errorf("report says mode %q, want %q", report.Cluster.Mode, mode)
	}
	checkPhasesInMode(t, report, mode, "consensus")
	if len(report.Cluster.NodeLogs) != 3 {
		t.Errorf("report names %d nodes, want the 3 joined: %+v", len(report.Cluster.NodeLogs), report.Cluster.NodeLogs)
	}
	// The joined nodes report what their processes use themselves.
	if res := report.Cluster.NodeResources; len(res) != 3 {
		t.Errorf("resources of %d joined nodes, want 3: %+v", len(res), res)
	} else {
		for _, r := range res {
			if r.CPUAvgPercent <= 0 || r.RSSMaxBytes == 0 || r.PID == 0 {
				t.Errorf("node %s: %+v: not measured", r.ID, r)
			}
		}
	}
	if len(report.Checks) == 0 {
		t.Fatal("no check ran")
	}
	for _, c := range report.Checks {
		if c.Verdict != metrics.CheckOK {
			t.Errorf("check %s: %s %s", c.Name, c.Verdict, c.Detail)
		}
	}
}

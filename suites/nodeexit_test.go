package suites

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// A node process killed mid-run by someone else (kill -9 from outside, not
// a fault the run made): an event says so at once with how it ended and
// its log, the report lists it apart from the run's faults and puts no
// election down to a crash, the load goes on, the checks stay ok, a
// scripted restart brings the node back, and no process outlives the run.
func TestNodeExitsOnItsOwnMidRun(t *testing.T) {
	restart, err := knob.ParseTimed("4s:restart")
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	var killed atomic.Int64
	report := runReal(t, func(c *Config) {
		c.Cluster = ClusterProcesses
		c.Suites = []string{"consensus"}
		c.Clients = 4
		c.Duration = 6 * time.Second
		c.At = []knob.TimedAction{restart}
		c.NodeLogDir = logDir
		c.OnSnapshot = func(s *metrics.Snapshot) {
			if s.Phase != metrics.PhaseRunning || s.Elapsed < time.Second || killed.Load() != 0 {
				return
			}
			for _, n := range s.Cluster.Nodes {
				if n.ID == "n2" && n.PID > 0 && n.Up {
					killed.Store(int64(n.PID))
					_ = syscall.Kill(n.PID, syscall.SIGKILL)
				}
			}
		}
	})
	defer func() {
		if t.Failed() || testing.Verbose() {
			for _, e := range report.Events {
				t.Logf("%6.2fs %s %s", e.AtSeconds, e.Kind, e.Message)
			}
		}
	}()
	pid := int(killed.Load())
	if pid == 0 {
		t.Fatal("the test never killed n2")
	}
	for _, c := range report.Checks {
		if c.Verdict != metrics.CheckOK {
			t.Errorf("check %s: %s %s", c.Name, c.Verdict, c.Detail)
		}
	}
	if len(report.Checks) == 0 {
		t.Fatal("no check ran")
	}
	want := "node n2 exited on its own (pid " + strconv.Itoa(pid) + "): signal: killed; log " + filepath.Join(logDir, "n2.log")
	var exitAt float64 = -1
	restarted := false
	for _, e := range report.Events {
		if e.Message == want {
			if e.Kind != string(metrics.EventError) {
				t.Errorf("exit event of kind %s", e.Kind)
			}
			exitAt = e.AtSeconds
		}
		if strings.HasPrefix(e.Message, "n2 restarted") {
			restarted = true
		}
	}
	if exitAt < 0 {
		t.Fatalf("no event %q in %+v", want, report.Events)
	}
	if exitAt > 2 {
		t.Errorf("the exit was told at %.1fs, a second after the kill at 1s", exitAt)
	}
	if !restarted {
		t.Errorf("the scripted restart did not bring n2 back: %+v", report.Events)
	}
	if ex := report.Cluster.NodeExits; len(ex) != 1 || ex[0].ID != "n2" || ex[0].PID != pid || ex[0].Reason != "signal: killed" || ex[0].Log == "" {
		t.Errorf("cluster.node_exits %+v, want n2's", ex)
	}
	if e := report.Elections; e != nil && e.ByCause["crash"] > 0 {
		t.Errorf("elections put down to a crash the run did not make: %+v", e)
	}
	after := 0
	for _, ep := range report.Epochs {
		if ep.StartS >= 1 {
			for _, o := range ep.Ops {
				after += int(o.Count)
			}
		}
	}
	if after == 0 {
		t.Errorf("no op completed after the kill: %+v", report.Epochs)
	}
	var pids []int
	for _, p := range report.Cluster.NodeLogs {
		if p.ID == "n2" {
			pids = append(pids, p.PID)
		}
		if syscall.Kill(p.PID, 0) == nil {
			t.Errorf("node %s (pid %d) outlived the run", p.ID, p.PID)
		}
	}
	if len(pids) != 2 || pids[0] != pid {
		t.Errorf("n2 ran as processes %v, want %d and its restart", pids, pid)
	}
}

package suites

import (
	"syscall"
	"testing"
	"time"

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
					c.Duration = 3 * time.Second
					c.Transactions = 300
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
				procs := report.Cluster.NodeLogs
				if mode == ClusterProcesses && len(procs) < 3 {
					t.Fatalf("report names %d node processes, want at least 3: %+v", len(procs), procs)
				}
				if mode == ClusterEmbedded && len(procs) != 0 {
					t.Errorf("embedded run names node processes: %+v", procs)
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

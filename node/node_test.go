package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phantomdb/phantom/core"
)

// TestMain lets this test binary serve as its own node processes.
func TestMain(m *testing.M) {
	RunIfChild()
	goleak.VerifyTestMain(m)
}

// alive reports whether a process with pid exists (and is not a zombie
// we have reaped).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// checkGone fails t unless every pid has exited within a few seconds.
func checkGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("node process %d still runs", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func newProcessCluster(t *testing.T, nodes int, storage string) (*core.Cluster, *Processes) {
	t.Helper()
	p, err := NewProcesses(ProcessesConfig{Storage: storage, LogDir: t.TempDir(), Lease: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.DefaultConfig()
	cfg.Nodes = nodes
	cfg.Shards = 2
	cfg.Storage = storage
	cfg.Launcher = p
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := core.NewCluster(ctx, cfg)
	if err != nil {
		_ = p.Close()
		t.Fatal(err)
	}
	return c, p
}

// closeChecked closes a cluster newProcessCluster started and checks that
// none of its node processes outlives it.
func closeChecked(t *testing.T, c *core.Cluster, p *Processes) {
	t.Helper()
	pids := pidsOf(p)
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	checkGone(t, pids)
}

func pidsOf(p *Processes) []int {
	var pids []int
	for _, n := range p.Nodes() {
		pids = append(pids, n.PID)
	}
	return pids
}

// TestProcesses runs a cluster of node processes: writes, reads and a
// transaction over gRPC, a node SIGKILLed and restarted (in memory, so it
// catches up from its peers), a leader's replica killed, a node added, and
// no process left once the cluster closes.
func TestProcesses(t *testing.T) {
	for _, storage := range []string{core.StorageMemory, core.StorageDisk} {
		t.Run(storage, func(t *testing.T) {
			c, p := newProcessCluster(t, 3, storage)
			pids := pidsOf(p)
			if len(pids) != 3 {
				t.Fatalf("%d node processes, want 3", len(pids))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for i := range 50 {
				if err := c.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Put(ctx, "a", []byte("100")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Txn(ctx, core.Txn{Ops: []core.Op{core.Add("a", -40), core.Add("b", 40)}}); err != nil {
				t.Fatal(err)
			}
			if sum, _, err := c.SumInts(ctx, []string{"a", "b"}); err != nil || sum != 100 {
				t.Fatalf("sum %d, %v", sum, err)
			}
			leader, err := c.ShardLeader(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			var victim NodeProcess
			for _, n := range p.Nodes() {
				if n.ID == leader {
					victim = n
				}
			}
			if err := c.CrashNode(leader); err != nil {
				t.Fatal(err)
			}
			checkGone(t, []int{victim.PID})
			if err := c.Put(ctx, "during-crash", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := c.RestartNode(ctx, leader); err != nil {
				t.Fatal(err)
			}
			if err := c.PutReplicated(ctx, "after-restart", []byte("y")); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := c.LocalGet(leader, "after-restart"); err != nil || !ok || string(v) != "y" {
				t.Fatalf("the restarted node's replica holds %q, %v, %v", v, ok, err)
			}
			if _, err := c.KillLeader(ctx, 1); err != nil {
				t.Fatal(err)
			}
			id, err := c.AddNode(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Heartbeat(ctx, id); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				v, err := c.Get(ctx, fmt.Sprintf("k%d", i))
				if err != nil || string(v) != "v" {
					t.Fatalf("k%d = %q, %v", i, v, err)
				}
			}
			pids = pidsOf(p)
			if len(pids) != 4 {
				t.Fatalf("%d node processes after AddNode, want 4", len(pids))
			}
			var added int
			for _, n := range p.Nodes() {
				if n.ID == id {
					added = n.PID
				}
			}
			if err := c.RemoveNode(ctx, id); err != nil {
				t.Fatal(err)
			}
			checkGone(t, []int{added})
			if v, err := c.Get(ctx, "k9"); err != nil || string(v) != "v" {
				t.Fatalf("k9 after RemoveNode = %q, %v", v, err)
			}
			pids = pidsOf(p)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			checkGone(t, pids)
			if _, err := c.Get(ctx, "k1"); !errors.Is(err, core.ErrClosed) {
				t.Fatalf("get after close: %v", err)
			}
		})
	}
}

// TestNodeBadFlags: one line, exit code 2.
func TestNodeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--id", "n1", "--storage", "tape"},
		{"--id", "n1", "--storage", "disk"},
		{"--id", "n1", "--listen", "nope"},
		{"--id", "n1", "--parent-lease", "-1s"},
		{"--id", "n1", "--peers", "x"},
		{"--id", "n1", "--bogus"},
	} {
		var out, errb bytesBuf
		if code := Main(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if n := countLines(errb.String()); n != 1 {
			t.Errorf("%v: %d lines on stderr, want 1: %q", args, n, errb.String())
		}
	}
}

type bytesBuf struct{ b []byte }

func (w *bytesBuf) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *bytesBuf) String() string              { return string(w.b) }

func countLines(s string) int {
	n := 0
	for _, r := range s {
		if r == '\n' {
			n++
		}
	}
	return n
}

// A node whose parent stops renewing its lease exits (code 3); one whose
// lease is renewed keeps running.
func TestLeaseLapses(t *testing.T) {
	cmd := exec.Command(os.Args[0], "node", "--id", "n9", "--parent-lease", "600ms", "--log", filepath.Join(t.TempDir(), "n9.log"))
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "phantom node n9 serving on "))
	conn, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Renewed every 200ms for 1.5s, more than twice the lease: it stays.
	for range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := conn.Renew(ctx)
		cancel()
		if err != nil {
			t.Fatalf("renew: %v", err)
		}
		select {
		case err := <-exited:
			t.Fatalf("the node exited while its lease was renewed: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("exit %v, want code 3 for a lapsed lease", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatal("the node outlived its lease by seconds")
	}
}

// Partitions and shaping reach the node processes' stream layers: a
// partitioned leader's shard elects another, writes go on, heal lets the
// node back; a delay on every link slows a write by a round trip.
func TestProcessesNetwork(t *testing.T) {
	c, p := newProcessCluster(t, 3, core.StorageMemory)
	defer closeChecked(t, c, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, err := c.ShardLeader(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Partition(leader); err != nil {
		t.Fatal(err)
	}
	// Both shard 0 and the meta group must be led from the majority's
	// side: a heartbeat goes to the meta group's leader, and while that is
	// still the partitioned node it reaches itself.
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := c.ShardLeader(ctx, 0)
		if meta := c.Status().MetaLeader; err == nil && l != leader && meta != "" && meta != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard 0 or the meta group still led by the partitioned %s", leader)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Heartbeat(ctx, leader); err == nil {
		t.Error("a heartbeat crossed the partition")
	}
	if err := c.Put(ctx, "during-partition", []byte("x")); err != nil {
		t.Fatal(err)
	}
	c.Heal()
	if err := c.PutReplicated(ctx, "after-heal", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.LocalGet(leader, "after-heal"); err != nil || !ok || string(v) != "y" {
		t.Fatalf("the healed node's replica holds %q, %v, %v", v, ok, err)
	}
	timePut := func() time.Duration {
		best := time.Hour
		for i := range 5 {
			t0 := time.Now()
			if err := c.Put(ctx, fmt.Sprintf("timed%d", i), []byte("z")); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(t0))
		}
		return best
	}
	if err := c.SetAllLinks(core.Link{Delay: 25 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if d := timePut(); d < 50*time.Millisecond {
		t.Errorf("a put took %v over links of 25ms each way, want at least a 50ms round trip", d)
	}
	if err := c.SetAllLinks(core.Link{}); err != nil {
		t.Fatal(err)
	}
	if d := timePut(); d > 40*time.Millisecond {
		t.Errorf("a put took %v with the shaping removed", d)
	}
}

// TestProcessPhases times a put and a read through replicas in node
// processes: the node times the phases it can, the controller's line its
// wait there and the controller the rest of the hop (the wire), and
// together they are non-zero and within each call's latency.
func TestProcessPhases(t *testing.T) {
	c, p := newProcessCluster(t, 3, core.StorageMemory)
	defer closeChecked(t, c, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ph core.Phases
	// A few calls: the first after the leader's election may find the
	// entry's times gone (counted as replicate+commit only); every call
	// must keep within its latency, and one at least must split fully.
	var put, get core.Phases
	for i := range 20 {
		start := time.Now()
		if err := c.PutTimed(ctx, "k", []byte("v"+fmt.Sprint(i)), &ph); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); ph.Total() > took {
			t.Fatalf("put %d: phases %+v add up to %v, more than the call's %v", i, ph, ph.Total(), took)
		}
		if ph.Wire <= 0 || ph.Line <= 0 || ph.Replicate <= 0 {
			t.Fatalf("put %d: no line, wire or replicate+commit: %+v", i, ph)
		}
		if ph.Queue > 0 && ph.Append > 0 && ph.Apply > 0 {
			put = ph
		}
		start = time.Now()
		v, err := c.GetTimed(ctx, "k", &ph)
		if err != nil || string(v) != "v"+fmt.Sprint(i) {
			t.Fatalf("get %d: %q, %v", i, v, err)
		}
		if took := time.Since(start); ph.Total() > took {
			t.Fatalf("get %d: phases %+v add up to %v, more than the call's %v", i, ph, ph.Total(), took)
		}
		if ph.Queue != 0 || ph.Append != 0 || ph.Replicate != 0 || ph.Apply != 0 || ph.Batch != 0 {
			t.Fatalf("get %d: a read with a put's phases: %+v", i, ph)
		}
		if ph.Line != 0 {
			t.Fatalf("get %d: a read waited in the line, which it does not go through: %+v", i, ph)
		}
		if ph.ReadIndex > 0 && ph.ApplyWait > 0 && ph.Wire > 0 {
			get = ph
		}
	}
	if put == (core.Phases{}) {
		t.Errorf("no put split into queue, append, replicate+commit, apply, line and wire (last %+v)", ph)
	}
	if get == (core.Phases{}) {
		t.Errorf("no read split into read-index, apply-wait and wire (last %+v)", ph)
	}
	t.Logf("put %+v", put)
	t.Logf("get %+v", get)
}

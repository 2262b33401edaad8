package node

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
)

// nodeUp reports whether Status shows node id up.
func nodeUp(c *core.Cluster, id string) bool {
	for _, n := range c.Status().Nodes {
		if n.ID == id {
			return n.Up
		}
	}
	return false
}

// A node process killed by someone else (kill -9 from outside) is noticed
// at once: the launcher tells its exit with the signal and the log, the
// cluster takes the node down and carries on, the crash the cluster makes
// itself is never told as one on its own, and a later restart brings the
// node back as a new process.
func TestProcessExitsOnItsOwn(t *testing.T) {
	c, p := newProcessCluster(t, 3, core.StorageMemory)
	var pids []int
	defer func() {
		pids = append(pids, pidsOf(p)...)
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		checkGone(t, pids)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The cluster's own crash and restart: expected, not told.
	if err := c.CrashNode("n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if ex := p.Exits(); len(ex) != 0 {
		t.Fatalf("the cluster's own crash told as an exit on its own: %+v", ex)
	}

	var victim NodeProcess
	for _, np := range p.Nodes() {
		if np.ID == "n2" {
			victim = np
		}
	}
	if victim.PID == 0 {
		t.Fatalf("no process for n2: %+v", p.Nodes())
	}
	pids = append(pids, victim.PID)
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for nodeUp(c, "n2") {
		if time.Now().After(deadline) {
			t.Fatal("the cluster still has n2 up 5s after its process was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ex := p.Exits()
	if len(ex) != 1 {
		t.Fatalf("exits on their own: %+v, want n2's", ex)
	}
	if e := ex[0]; e.ID != "n2" || e.PID != victim.PID || e.Reason != "signal: killed" || e.Log != victim.Log {
		t.Errorf("exit %+v, want n2 pid %d killed, log %s", e, victim.PID, victim.Log)
	}
	// The rest carry the load.
	for i := range 20 {
		if err := c.Put(ctx, "after-"+strconv.Itoa(i), []byte("v")); err != nil {
			t.Fatalf("put after the exit: %v", err)
		}
	}
	// A scripted restart brings it back, a new process.
	if err := c.RestartNode(ctx, "n2"); err != nil {
		t.Fatalf("restart after an exit on its own: %v", err)
	}
	if !nodeUp(c, "n2") {
		t.Error("n2 not up after its restart")
	}
	for _, np := range p.Nodes() {
		if np.ID == "n2" && np.PID == victim.PID {
			t.Error("n2 runs on the killed pid")
		}
	}
	for i := range 20 {
		if _, err := c.Get(ctx, "after-"+strconv.Itoa(i)); err != nil {
			t.Fatalf("get after the restart: %v", err)
		}
	}
	if ex := p.Exits(); len(ex) != 1 {
		t.Errorf("exits after the restart: %+v, want n2's only", ex)
	}
	if !strings.HasSuffix(victim.Log, "n2.log") {
		t.Errorf("log %q", victim.Log)
	}
}

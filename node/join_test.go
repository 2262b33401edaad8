package node

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"google.golang.org/grpc"
)

// startNodes starts n node processes the way a supervisor would (no
// lease), each naming the ones before it as peers, and stops them when the
// test ends. It returns their API addresses.
func startNodes(t *testing.T, n int) ([]string, []*exec.Cmd) {
	t.Helper()
	var addrs []string
	var cmds []*exec.Cmd
	dir := t.TempDir()
	for i := range n {
		id := "box" + string(rune('a'+i))
		args := []string{"node", "--id", id, "--log", filepath.Join(dir, id+".log")}
		if len(addrs) > 0 {
			args = append(args, "--peers", strings.Join(addrs, ","))
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), ChildEnv+"=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, strings.TrimSpace(strings.TrimPrefix(line, "phantom node "+id+" serving on ")))
		cmds = append(cmds, cmd)
	}
	return addrs, cmds
}

// Join mode: phantom finds every node from the last one started (which
// names the others as peers), runs a cluster on them, crashes one through
// its admin API, refuses to restart it, and leaves the rest running and
// empty.
func TestJoin(t *testing.T) {
	addrs, cmds := startNodes(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := NewJoin(ctx, addrs[2:])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(j.Nodes()); n != 3 {
		t.Fatalf("found %d nodes from one, want 3: %+v", n, j.Nodes())
	}
	cfg := core.DefaultConfig()
	cfg.Nodes, cfg.Shards, cfg.Launcher = 3, 2, j
	c, err := core.NewCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := c.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CrashNode("n3"); err != nil {
		t.Fatal(err)
	}
	// Which node became n3 depends on the order the nodes were started
	// in, in parallel: exactly one process exits.
	exited := make(chan int, len(cmds))
	for i, cmd := range cmds {
		go func() {
			_ = cmd.Wait()
			exited <- i
		}()
	}
	var gone int
	select {
	case gone = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the crashed node's process did not exit")
	}
	if err := c.Put(ctx, "e", []byte("e")); err != nil {
		t.Fatal(err)
	}
	err = c.RestartNode(ctx, "n3")
	if !errors.Is(err, core.ErrRefused) || !strings.Contains(err.Error(), "join mode") {
		t.Fatalf("restart in join mode: %v, want a refusal that says why", err)
	}
	if v, err := c.Get(ctx, "d"); err != nil || string(v) != "d" {
		t.Fatalf("get d = %q, %v", v, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The nodes phantom did not crash still run, with no replica left.
	for i, a := range addrs {
		if i == gone {
			continue
		}
		conn, err := Dial(a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := conn.Status(ctx)
		conn.Close()
		if err != nil {
			t.Fatalf("node at %s after the run: %v", a, err)
		}
		if strings.Contains(string(b), `"shard"`) {
			t.Errorf("node at %s still holds replicas: %s", a, b)
		}
	}
}

// Join mode: a node killed by something else is noticed by its broken
// watch and a probe that finds nobody; the cluster takes it down and
// carries on, and the node phantom itself crashes is never told as one
// that exited on its own.
func TestJoinNodeExitsOnItsOwn(t *testing.T) {
	addrs, cmds := startNodes(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := NewJoin(ctx, addrs[2:])
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.DefaultConfig()
	cfg.Nodes, cfg.Shards, cfg.Launcher = 3, 2, j
	c, err := core.NewCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	victim := cmds[0]
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = victim.Process.Wait()
	deadline := time.Now().Add(10 * time.Second)
	var ex []core.NodeExit
	for len(ex) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no exit told 10s after the kill")
		}
		time.Sleep(20 * time.Millisecond)
		ex = j.Exits()
	}
	e := ex[0]
	if e.PID != victim.Process.Pid || !strings.Contains(e.Reason, "stopped answering") {
		t.Errorf("exit %+v, want pid %d stopped answering", e, victim.Process.Pid)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		up := false
		for _, n := range c.Status().Nodes {
			if n.ID == e.ID {
				up = n.Up
			}
		}
		if !up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still up after its exit was told", e.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Put(ctx, k, []byte(k)); err != nil {
			t.Fatalf("put after the exit: %v", err)
		}
	}
	// A crash the cluster makes itself is never told as one on its own.
	for _, n := range c.Status().Nodes {
		if n.Up {
			if err := c.CrashNode(n.ID); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	time.Sleep(2 * probeTries * probeGap)
	if ex := j.Exits(); len(ex) != 1 {
		t.Errorf("exits %+v, want only the one from outside", ex)
	}
}

// probe tells a node that answers as the process it was (a broken line,
// not an exit) from one whose pid changed (restarted by what started it,
// without its replicas) and from one that no longer answers.
func TestProbeTellsAnExitFromABrokenLine(t *testing.T) {
	l := &inProcess{servers: map[string]*grpc.Server{}, hosts: map[string]*core.NodeHost{}}
	defer l.Close()
	conn, err := l.Start(context.Background(), "n1", 0)
	if err != nil {
		t.Fatal(err)
	}
	admin := conn.(*Conn)
	defer admin.Close()
	ctx := context.Background()
	broken := errors.New("watch broke")
	pid := int64(os.Getpid())
	if reason, gone := probe(ctx, admin, pid, broken); gone {
		t.Errorf("the same process answering counts as gone: %q", reason)
	}
	if reason, gone := probe(ctx, admin, pid+1, broken); !gone || !strings.Contains(reason, "restarted without its replicas") {
		t.Errorf("another pid answering: gone %v, %q; want gone, restarted", gone, reason)
	}
	_ = l.Release("n1")
	if reason, gone := probe(ctx, admin, pid, broken); !gone || !strings.Contains(reason, "stopped answering") {
		t.Errorf("nobody answering: gone %v, %q; want gone, stopped answering", gone, reason)
	}
}

package main

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childrenOf lists the pids whose parent is pid, from /proc.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, p)
			}
		}
	}
	return out
}

func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie (killed, not yet reaped by its parent, here init) is gone.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// startProcessesRun starts a processes-mode phantom run as a child of the
// test and waits for its load and its 3 node processes.
func startProcessesRun(t *testing.T) (*exec.Cmd, *lockedBuffer, []int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to find the node processes")
	}
	cmd := exec.Command(os.Args[0], "run", "--cluster", "processes", "--suites", "consensus", "--nodes", "3", "--clients", "2", "--duration", "1m")
	cmd.Env = append(os.Environ(), "PHANTOM_TEST_MAIN=1")
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), "consensus.submit") {
		if time.Now().After(deadline) {
			t.Fatalf("no load within 30s; stderr:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	nodes := childrenOf(t, cmd.Process.Pid)
	if len(nodes) != 3 {
		t.Fatalf("phantom has %d child processes, want its 3 nodes", len(nodes))
	}
	return cmd, errb, nodes
}

func checkAllGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for processAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("node process %d outlived phantom by %v", pid, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// SIGKILL of a processes-mode phantom leaves no node process behind: the
// kernel's parent-death signal kills them (their lease would too).
func TestKilledPhantomLeavesNoNode(t *testing.T) {
	cmd, _, nodes := startProcessesRun(t)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	checkAllGone(t, nodes, 5*time.Second)
}

// Ctrl-C stops a processes-mode run in order: the report is written and
// the nodes are stopped before phantom exits.
func TestInterruptedProcessesRunStopsItsNodes(t *testing.T) {
	cmd, errb, nodes := startProcessesRun(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d; stderr:\n%s", err, exitInterrupted, errb.String())
	}
	checkAllGone(t, nodes, time.Second)
}

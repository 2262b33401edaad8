package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child processes the tests put under quotas.
const childEnv = "PHANTOM_CGROUP_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "spin":
		runtime.GOMAXPROCS(1)
		for x := uint64(0); ; x++ {
			_ = x * x
		}
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func reap(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

func TestCPUValues(t *testing.T) {
	good := map[string]string{"0.25": "25000 100000", "0.2": "20000 100000", "1": "100000 100000", "0.01": "1000 100000", " 0.5 ": "50000 100000"}
	for in, want := range good {
		v, err := ParseCPUs(in)
		if err != nil {
			t.Errorf("ParseCPUs(%q): %v", in, err)
			continue
		}
		if got := CPUMax(v); got != want {
			t.Errorf("CPUMax(%q) = %q, want %q", in, got, want)
		}
	}
	bad := map[string]string{
		"":                               "not a number",
		"abc":                            "not a number",
		"0":                              "below the smallest quota",
		"-1":                             "below the smallest quota",
		"0.001":                          "below the smallest quota",
		"NaN":                            "not a number",
		"+Inf":                           "not a number",
		fmt.Sprint(runtime.NumCPU() + 1): "more than this machine's",
	}
	for in, want := range bad {
		_, err := ParseCPUs(in)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseCPUs(%q) = %v, want one line containing %q", in, err, want)
		}
	}
	if err := ValidateCPUs(math.Inf(1)); err == nil {
		t.Error("ValidateCPUs(+Inf) accepted")
	}
}

// TestDetect checks the one-line refusals against made-up mount tables.
func TestDetect(t *testing.T) {
	dir := t.TempDir()
	v2 := filepath.Join(dir, "v2")
	v2cpu := filepath.Join(dir, "v2cpu")
	for d, ctrl := range map[string]string{v2: "memory pids hugetlb\n", v2cpu: "cpuset cpu io memory pids\n"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.controllers"), []byte(ctrl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	line := func(point, fstype, opts string) string {
		return fmt.Sprintf("41 31 0:38 / %s rw,relatime - %s %s %s\n", point, fstype, fstype, opts)
	}
	cases := []struct {
		name, table string
		euid        int
		want        Layout
		wantErr     string
	}{
		{"not root", line(v2cpu, "cgroup2", "rw"), 1000, 0, "phantom runs as uid 1000, not root"},
		{"no cgroup at all", line("/proc", "proc", "rw"), 0, 0, "no cgroup2 file system is mounted (and no cgroup v1 cpu hierarchy is mounted)"},
		{"v2 without cpu", line(v2, "cgroup2", "rw") + line("/x/cpuset", "cgroup", "rw,cpuset") + line("/x/acct", "cgroup", "rw,cpuacct"), 0, 0, filepath.Join(v2, "cgroup.controllers") + " has no cpu"},
		{"v2 with cpu", line(v2cpu, "cgroup2", "rw"), 0, V2, ""},
		{"hybrid", line("/x/cpu", "cgroup", "rw,cpu") + line("/x/acct", "cgroup", "rw,cpuacct") + line(v2, "cgroup2", "rw"), 0, V1, ""},
		{"v1 co-mounted", line("/x/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"), 0, V1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(f, []byte(c.table), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := detect(f, c.euid)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrUnavailable) ||
					!strings.HasPrefix(err.Error(), "--node-cpus needs root and the cgroup v2 cpu controller: ") {
					t.Fatalf("detect = %v, want an ErrUnavailable naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil || p.layout != c.want {
				t.Fatalf("detect = %+v, %v; want layout %v", p, err, c.want)
			}
			if c.name == "v1 co-mounted" && len(p.mounts) != 1 {
				t.Errorf("co-mounted cpu,cpuacct used twice: %v", p.mounts)
			}
			if c.name == "hybrid" && (len(p.mounts) != 2 || p.mounts[1] != "/x/acct") {
				t.Errorf("hybrid mounts = %v, want cpu then cpuacct", p.mounts)
			}
		})
	}
}

func openOrSkip(t *testing.T) *Manager {
	t.Helper()
	m, err := Open()
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no CPU quotas on this machine: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestThrottle runs two busy-looping children side by side, one under 0.2
// CPUs and one under a quota it cannot reach (1 CPU for one thread), and
// compares what each got.
func TestThrottle(t *testing.T) {
	m := openOrSkip(t)
	t.Logf("%s, parent %s, starts inside: %v", m.Layout(), m.Dir(), m.StartsInside())
	slow, err := m.NewGroup("slow", 0.2)
	if err != nil {
		t.Fatal(err)
	}
	free, err := m.NewGroup("free", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, b := child(t, "spin"), child(t, "spin")
	reap(t, a)
	reap(t, b)
	if err := slow.Start(a); err != nil {
		t.Fatal(err)
	}
	if err := free.Start(b); err != nil {
		t.Fatal(err)
	}
	if pids, err := slow.PIDs(); err != nil || len(pids) != 1 || pids[0] != a.Process.Pid {
		t.Fatalf("slow group holds %v (%v), want [%d]", pids, err, a.Process.Pid)
	}
	time.Sleep(200 * time.Millisecond) // past the children's start-up
	s0, err := slow.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f0, err := free.Stat()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(time.Second)
	s1, err := slow.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := free.Stat()
	wall := time.Since(t0).Seconds()
	slowCPU := float64(s1.UsageUsec-s0.UsageUsec) / 1e6 / wall
	freeCPU := float64(f1.UsageUsec-f0.UsageUsec) / 1e6 / wall
	t.Logf("over %.2fs: 0.2-CPU child used %.3f CPUs (throttled in %d of %d periods, %d µs), unthrottled child %.3f CPUs",
		wall, slowCPU, s1.NrThrottled-s0.NrThrottled, s1.NrPeriods-s0.NrPeriods, s1.ThrottledUsec-s0.ThrottledUsec, freeCPU)
	if s1.NrThrottled == 0 || s1.ThrottledUsec == 0 {
		t.Errorf("the 0.2-CPU spinner was never throttled: %+v", s1)
	}
	if slowCPU <= 0 {
		t.Errorf("the 0.2-CPU spinner used no CPU: usage %d → %d µs", s0.UsageUsec, s1.UsageUsec)
	}
	// The quota is a ceiling however busy the machine is: 0.2 CPUs, with
	// room for one period's slack at either end of the window.
	if slowCPU > 0.3 {
		t.Errorf("the 0.2-CPU spinner used %.3f CPUs", slowCPU)
	}
	// Against the unthrottled spinner: only meaningful when the machine
	// gave that one clearly more than the quota.
	if freeCPU >= 0.4 {
		if r := slowCPU / freeCPU; r > 0.6 {
			t.Errorf("throttled/unthrottled CPU = %.2f, want well under 1", r)
		}
	} else {
		t.Logf("machine too busy to compare: the unthrottled spinner got only %.3f CPUs", freeCPU)
	}
}

// TestCloseRemoves leaves a process running in a group and checks that Close
// moves it out and removes every directory the run made.
func TestCloseRemoves(t *testing.T) {
	m, err := Open()
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no CPU quotas on this machine: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.NewGroup("n1", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewGroup("n1", 0.5); err == nil {
		t.Error("a second group n1 was made")
	}
	if _, err := m.NewGroup("../x", 0.5); err == nil {
		t.Error("a group named ../x was made")
	}
	if _, err := m.NewGroup("n2", 0); err == nil {
		t.Error("a group with quota 0 was made")
	}
	gone, err := m.NewGroup("n3", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// The parent weighs as many processes as it has groups (see weigh).
	weight := func() string {
		file := "cpu.shares"
		if m.Layout() == V2 {
			file = "cpu.weight"
		}
		b, _ := os.ReadFile(filepath.Join(m.Dir(), file))
		return strings.TrimSpace(string(b))
	}
	two, one := "2048", "1024"
	if m.Layout() == V2 {
		two, one = "200", "100"
	}
	if w := weight(); w != two {
		t.Errorf("parent weight with 2 groups %s, want %s", w, two)
	}
	if err := gone.Remove(); err != nil {
		t.Fatal(err)
	}
	if w := weight(); w != one {
		t.Errorf("parent weight after a group's removal %s, want %s", w, one)
	}
	if _, err := os.Stat(gone.Dir()); !os.IsNotExist(err) {
		t.Errorf("removed group %s still there: %v", gone.Dir(), err)
	}
	cmd := child(t, "sleep")
	reap(t, cmd)
	if err := g.Start(cmd); err != nil {
		t.Fatal(err)
	}
	dirs := append(append([]string{}, m.dirs...), g.dirs...)
	if err := m.Close(); err != nil {
		t.Fatalf("Close with a process still in a group: %v", err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after Close: %v", d, err)
		}
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Errorf("Close killed the straggler (it should only move it out): %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.NewGroup("n4", 0.5); err == nil {
		t.Error("NewGroup after Close succeeded")
	}
}

// TestStartInside starts a child with clone3 into a cgroup v2 group and checks
// it is there at once. It needs only a writable cgroup2 mount, not the cpu
// controller, so it also runs on hybrid machines whose quotas go through v1.
func TestStartInside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a cgroup")
	}
	mounts, err := readMounts("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var v2 string
	for _, mt := range mounts {
		if mt.fstype == "cgroup2" {
			v2 = mt.point
			break
		}
	}
	if v2 == "" {
		t.Skip("no cgroup2 mount")
	}
	if !clone3IntoCgroup() {
		t.Skip("clone3 with CLONE_INTO_CGROUP is not available (kernel < 5.7 or blocked by seccomp)")
	}
	dir := filepath.Join(v2, fmt.Sprintf("phantom-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := child(t, "sleep")
	if err := startInto(cmd, dir); err != nil {
		_ = syscall.Rmdir(dir)
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := rmdirRetry(dir); err != nil {
		t.Error(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := "0::/" + filepath.Base(dir) + "\n"
	if !strings.Contains(string(b), want) {
		t.Fatalf("child's /proc/pid/cgroup = %q, want a line %q", b, want)
	}
}

func TestCheckAgreesWithOpen(t *testing.T) {
	err := Check()
	m, oerr := Open()
	if oerr == nil {
		defer m.Close()
	}
	if (err == nil) != (oerr == nil) || (err != nil && err.Error() != oerr.Error()) {
		t.Fatalf("Check = %v, Open = %v", err, oerr)
	}
}

// TestStartRefusesOutside takes a group's directories away before Start: the
// child must not be left running outside its quota.
func TestStartRefusesOutside(t *testing.T) {
	m := openOrSkip(t)
	g, err := m.NewGroup("gone", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.rmdirs(); err != nil {
		t.Fatal(err)
	}
	cmd := child(t, "sleep")
	reap(t, cmd)
	if err := g.Start(cmd); err == nil {
		t.Fatal("Start succeeded into a group that no longer exists")
	}
	if cmd.Process != nil && cmd.ProcessState == nil {
		t.Errorf("child %d left running (not reaped) after a failed Start", cmd.Process.Pid)
	}
}

// TestV2Files runs the cgroup v2 layout against a directory standing in for
// the cgroup2 mount (this project's machines hold the cpu controller in v1,
// so the real v2 quota path cannot run here) and checks the files it writes:
// the cpu controller enabled for the run's parent and for its children, and
// each node's cpu.max.
func TestV2Files(t *testing.T) {
	root := t.TempDir()
	m, err := open(plan{layout: V2, mounts: []string{root}}, "phantom-test")
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.NewGroup("n1", 0.25)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cgroup.subtree_control":              "+cpu",
		"phantom-test/cgroup.subtree_control": "+cpu",
		"phantom-test/n1/cpu.max":             "25000 100000",
		"phantom-test/cpu.weight":             "100",
	} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", file, b, err, want)
		}
	}
	if g.Dir() != filepath.Join(root, "phantom-test", "n1") {
		t.Errorf("group dir %s", g.Dir())
	}
	// The parent weighs as many processes as it has groups.
	if _, err := m.NewGroup("n2", 0.25); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "phantom-test", "cpu.weight")); string(b) != "200" {
		t.Errorf("cpu.weight with 2 groups = %q, want 200", b)
	}
	// (Remove is not tried here: a stand-in directory is no cgroup, and
	// rmdir of a group with files in it fails.)
	// A root that already hands cpu to its children is left as it is.
	root2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(root2, "cgroup.subtree_control"), []byte("cpuset cpu io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := open(plan{layout: V2, mounts: []string{root2}}, "phantom-test"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root2, "cgroup.subtree_control")); string(b) != "cpuset cpu io\n" {
		t.Errorf("subtree_control rewritten to %q", b)
	}
}

// TestStaleRemoved leaves groups as a phantom killed before Close would
// (its pid gone) and checks that the next Open removes them.
func TestStaleRemoved(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("no CPU quotas on this machine: %v", err)
	}
	dead := child(t, "sleep")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	_ = dead.Process.Kill()
	_ = dead.Wait()
	p, err := detect("/proc/self/mountinfo", os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, mnt := range p.mounts {
		dir := filepath.Join(mnt, fmt.Sprintf("phantom-%d", dead.Process.Pid))
		if err := os.MkdirAll(filepath.Join(dir, "n1"), 0o755); err != nil {
			t.Fatal(err)
		}
		left = append(left, dir)
	}
	openOrSkip(t)
	for _, dir := range left {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			_ = syscall.Rmdir(filepath.Join(dir, "n1"))
			_ = syscall.Rmdir(dir)
			t.Errorf("stale group %s still there after Open: %v", dir, err)
		}
	}
}

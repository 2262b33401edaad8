// Package cgroup puts node processes under CPU quotas, so that a cluster of
// node processes on one machine gets real resources that grow with the number
// of nodes (--node-cpus).
//
// A run opens one Manager, which makes a parent cgroup phantom-<pid> at the
// root of the CPU hierarchy; each node gets a child group with its quota, and
// its process is started in it (or moved into it right after it starts).
// Close moves out whatever still runs there and removes the groups.
//
// Two layouts are supported, because both are found on machines phantom runs
// on:
//
//   - cgroup v2 with the cpu controller (systemd's unified layout, most
//     distributions since 2021): the quota is cpu.max; a child starts inside
//     its group through clone3's CLONE_INTO_CGROUP (Linux ≥ 5.7), so it never
//     runs unthrottled.
//   - cgroup v1's cpu hierarchy (hybrid and legacy layouts, where the cpu
//     controller is bound to v1 and cgroup v2 has no cpu): the quota is
//     cpu.cfs_quota_us over cpu.cfs_period_us, usage comes from cpuacct, and a
//     child is moved into its group right after it starts (v1 cannot start a
//     process inside a group).
//
// Both need root (or write access to the cgroup file system).
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Period is the scheduling period a quota is given over, in microseconds:
// the kernel's default (100 ms), so a quota of 0.25 CPUs is 25 ms of CPU time
// in every 100 ms.
const Period = 100000

// MinCPUs is the smallest quota accepted: the kernel refuses a quota under
// 1 ms per period.
const MinCPUs = 0.01

// ErrUnavailable is returned (wrapped in a sentence saying what is missing)
// when the machine cannot put a process under a CPU quota.
var ErrUnavailable = errors.New("cgroup cpu quotas unavailable")

// ParseCPUs parses a --node-cpus value ("0.25") and validates it.
func ParseCPUs(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("--node-cpus %q is not a number of CPUs (e.g. 0.25)", s)
	}
	if err := ValidateCPUs(v); err != nil {
		return 0, err
	}
	return v, nil
}

// ValidateCPUs refuses a quota the kernel would refuse or that the machine
// cannot give: not a finite number, under MinCPUs, or more CPUs than the
// machine has.
func ValidateCPUs(cpus float64) error {
	switch {
	case math.IsNaN(cpus) || math.IsInf(cpus, 0):
		return fmt.Errorf("--node-cpus %v is not a number of CPUs (e.g. 0.25)", cpus)
	case cpus < MinCPUs:
		return fmt.Errorf("--node-cpus %v is below the smallest quota, %v CPUs", cpus, MinCPUs)
	case cpus > float64(runtime.NumCPU()):
		return fmt.Errorf("--node-cpus %v is more than this machine's %d CPUs", cpus, runtime.NumCPU())
	}
	return nil
}

// QuotaUsec is the CPU time, in microseconds per Period, that cpus CPUs get.
func QuotaUsec(cpus float64) int64 { return int64(math.Round(cpus * Period)) }

// CPUMax is cgroup v2's cpu.max line for cpus CPUs: "25000 100000" for 0.25.
func CPUMax(cpus float64) string { return fmt.Sprintf("%d %d", QuotaUsec(cpus), Period) }

// Layout says which cgroup hierarchy carries the quotas.
type Layout int

const (
	// V1 is cgroup v1's cpu (and cpuacct) hierarchy.
	V1 Layout = 1
	// V2 is cgroup v2 with the cpu controller.
	V2 Layout = 2
)

func (l Layout) String() string {
	if l == V2 {
		return "cgroup v2"
	}
	return "cgroup v1"
}

// Stat is a group's CPU accounting, from its cpu.stat (and, on v1,
// cpuacct.usage). Counters are cumulative since the group was made.
type Stat struct {
	// UsageUsec is the CPU time its processes used, in µs.
	UsageUsec uint64
	// NrPeriods is the number of periods in which the group had runnable
	// processes; NrThrottled how many of them ran out of quota.
	NrPeriods, NrThrottled uint64
	// ThrottledUsec is the time its processes waited for quota, in µs.
	ThrottledUsec uint64
}

// Manager owns a run's parent cgroup and its node groups. Its methods are
// safe for concurrent use.
type Manager struct {
	layout Layout
	// dirs are the parent group's directories: on v2 one; on v1 the cpu
	// hierarchy's, then cpuacct's when it is a separate mount.
	dirs []string
	// homes are, per hierarchy, the cgroup this process was in at Open:
	// where processes still in a group at Close are moved.
	homes  []string
	clone3 bool

	mu     sync.Mutex
	groups map[string]*Group
	closed bool
}

// Group is one node's cgroup.
type Group struct {
	m    *Manager
	name string
	cpus float64
	dirs []string
}

// Open checks that the machine can put processes under CPU quotas and makes
// the run's parent cgroup, phantom-<pid>. When it cannot, the error is one
// sentence naming what is missing (and wraps ErrUnavailable).
func Open() (*Manager, error) {
	p, err := detect("/proc/self/mountinfo", os.Geteuid())
	if err != nil {
		return nil, err
	}
	return open(p, fmt.Sprintf("phantom-%d", os.Getpid()))
}

// Check says whether Open would find CPU quotas on this machine, without
// making anything: nil, or the one-sentence error Open would return (for a
// setup screen that offers --node-cpus only where it can work).
func Check() error {
	_, err := detect("/proc/self/mountinfo", os.Geteuid())
	return err
}

// plan is what detect found: the layout and, per hierarchy, its mount point.
type plan struct {
	layout Layout
	mounts []string // v2: the cgroup2 mount; v1: cpu's mount, then cpuacct's if separate
}

type mount struct {
	point, fstype string
	opts          []string // super options
}

// detect reads the mount table and says which layout carries CPU quotas here,
// or why none does.
func detect(mountinfo string, euid int) (plan, error) {
	const need = "--node-cpus needs root and the cgroup v2 cpu controller"
	if euid != 0 {
		return plan{}, fmt.Errorf("%s: phantom runs as uid %d, not root: %w", need, euid, ErrUnavailable)
	}
	mounts, err := readMounts(mountinfo)
	if err != nil {
		return plan{}, fmt.Errorf("%s: cannot read the mount table: %v: %w", need, err, ErrUnavailable)
	}
	var v2, v1cpu, v1acct string
	for _, m := range mounts {
		switch m.fstype {
		case "cgroup2":
			if v2 == "" {
				v2 = m.point
			}
		case "cgroup":
			for _, o := range m.opts {
				if o == "cpu" && v1cpu == "" {
					v1cpu = m.point
				}
				if o == "cpuacct" && v1acct == "" {
					v1acct = m.point
				}
			}
		}
	}
	var v2why string
	if v2 != "" {
		file := filepath.Join(v2, "cgroup.controllers")
		b, err := os.ReadFile(file)
		switch {
		case err != nil:
			v2why = fmt.Sprintf("cannot read %s: %v", file, err)
		case !hasWord(string(b), "cpu"):
			v2why = file + " has no cpu"
		default:
			return plan{layout: V2, mounts: []string{v2}}, nil
		}
	} else {
		v2why = "no cgroup2 file system is mounted"
	}
	if v1cpu != "" {
		p := plan{layout: V1, mounts: []string{v1cpu}}
		if v1acct != "" && v1acct != v1cpu {
			p.mounts = append(p.mounts, v1acct)
		}
		return p, nil
	}
	return plan{}, fmt.Errorf("%s: %s (and no cgroup v1 cpu hierarchy is mounted): %w", need, v2why, ErrUnavailable)
}

func readMounts(path string) ([]mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		out = append(out, mount{
			point:  unescape(fields[4]),
			fstype: fields[sep+1],
			opts:   strings.Split(fields[sep+3], ","),
		})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

func open(p plan, parent string) (*Manager, error) {
	m := &Manager{layout: p.layout, groups: map[string]*Group{}}
	for i, mnt := range p.mounts {
		removeStale(mnt)
		ctrl := "cpu" // v1: the cpu hierarchy, then cpuacct's
		if i > 0 {
			ctrl = "cpuacct"
		}
		m.homes = append(m.homes, ownCgroup(mnt, p.layout, ctrl))
	}
	if p.layout == V2 {
		root := p.mounts[0]
		if err := enableCPU(root); err != nil {
			return nil, err
		}
		m.clone3 = clone3IntoCgroup()
	}
	for _, mnt := range p.mounts {
		dir := filepath.Join(mnt, parent)
		if err := os.Mkdir(dir, 0o755); err != nil {
			m.removeDirs()
			return nil, fmt.Errorf("--node-cpus: cannot make the run's cgroup: %v", err)
		}
		m.dirs = append(m.dirs, dir)
	}
	if p.layout == V2 {
		if err := enableCPU(m.dirs[0]); err != nil {
			m.removeDirs()
			return nil, err
		}
	}
	return m, nil
}

// enableCPU turns the cpu controller on for dir's children (cgroup v2).
func enableCPU(dir string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	b, err := os.ReadFile(file)
	if err == nil && hasWord(string(b), "cpu") {
		return nil
	}
	if err := os.WriteFile(file, []byte("+cpu"), 0); err != nil {
		hint := ""
		if errors.Is(err, syscall.EBUSY) {
			hint = " (the cgroup has processes of its own, which cgroup v2 forbids in a cgroup that hands controllers to its children)"
		}
		return fmt.Errorf("--node-cpus: cannot enable the cpu controller in %s: %v%s", file, err, hint)
	}
	return nil
}

// ownCgroup is the directory of the cgroup this process is in, within the
// hierarchy mounted at mnt (on v1, the one holding controller want); the
// mount point itself when it cannot be told.
func ownCgroup(mnt string, layout Layout, want string) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return mnt
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		match := false
		if layout == V2 {
			match = parts[0] == "0" && parts[1] == ""
		} else {
			for _, c := range strings.Split(parts[1], ",") {
				match = match || c == want
			}
		}
		if match {
			dir := filepath.Join(mnt, parts[2])
			if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
				return dir
			}
		}
	}
	return mnt
}

// removeStale removes the empty groups of earlier runs whose phantom is gone
// (killed before it could Close), so they do not pile up.
func removeStale(mnt string) {
	ents, err := os.ReadDir(mnt)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := strings.CutPrefix(e.Name(), "phantom-")
		n, err := strconv.Atoi(pid)
		if !ok || !e.IsDir() || err != nil || n == os.Getpid() || syscall.Kill(n, 0) != syscall.ESRCH {
			continue
		}
		dir := filepath.Join(mnt, e.Name())
		kids, _ := os.ReadDir(dir)
		for _, k := range kids {
			if k.IsDir() {
				_ = syscall.Rmdir(filepath.Join(dir, k.Name()))
			}
		}
		_ = syscall.Rmdir(dir)
	}
}

// Layout says which hierarchy carries the quotas.
func (m *Manager) Layout() Layout { return m.layout }

// StartsInside says whether Start puts a child in its group before it runs
// (cgroup v2 with clone3) rather than right after.
func (m *Manager) StartsInside() bool { return m.clone3 }

// Dir is the run's parent group in the quota hierarchy (for the report).
func (m *Manager) Dir() string { return m.dirs[0] }

// NewGroup makes a node's group under the run's parent with a quota of cpus
// CPUs. name must be one path element, unique in the run.
func (m *Manager) NewGroup(name string, cpus float64) (*Group, error) {
	if err := ValidateCPUs(cpus); err != nil {
		return nil, err
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return nil, fmt.Errorf("cgroup: %q is not a usable group name", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("cgroup: the manager is closed")
	}
	if _, dup := m.groups[name]; dup {
		return nil, fmt.Errorf("cgroup: group %q already exists", name)
	}
	g := &Group{m: m, name: name, cpus: cpus}
	for _, parent := range m.dirs {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			g.rmdirs()
			return nil, fmt.Errorf("cgroup: cannot make %s: %v", dir, err)
		}
		g.dirs = append(g.dirs, dir)
	}
	var err error
	if m.layout == V2 {
		err = writeFile(g.dirs[0], "cpu.max", CPUMax(cpus))
	} else {
		err = writeFile(g.dirs[0], "cpu.cfs_period_us", strconv.Itoa(Period))
		if err == nil {
			err = writeFile(g.dirs[0], "cpu.cfs_quota_us", strconv.FormatInt(QuotaUsec(cpus), 10))
		}
	}
	if err != nil {
		g.rmdirs()
		return nil, err
	}
	m.groups[name] = g
	if err := m.weigh(); err != nil {
		delete(m.groups, name)
		g.rmdirs()
		return nil, err
	}
	return g, nil
}

// The CPU weight of one process at its parent's level: v1's cpu.shares and
// v2's cpu.weight defaults, and their upper limits.
const (
	sharesPerNode, maxShares = 1024, 262144
	weightPerNode, maxWeight = 100, 10000
)

// weigh gives the run's parent group the CPU weight of as many processes
// as it has groups. Under contention the kernel shares CPU between the
// entities at a level by weight, and a group is one entity: at the
// default weight every node process together would weigh as much as one
// of phantom's threads, and the nodes would get less than their quotas
// not because the machine is full but because they are many in one group.
// Each node then competes as the process a separate machine would run;
// the quotas still cap what each uses. m.mu must be held.
func (m *Manager) weigh() error {
	n := max(len(m.groups), 1)
	if m.layout == V2 {
		return writeFile(m.dirs[0], "cpu.weight", strconv.Itoa(min(n*weightPerNode, maxWeight)))
	}
	return writeFile(m.dirs[0], "cpu.shares", strconv.Itoa(min(n*sharesPerNode, maxShares)))
}

func writeFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup: cannot write %q to %s: %v", value, filepath.Join(dir, name), err)
	}
	return nil
}

// Name is the group's name; CPUs its quota.
func (g *Group) Name() string  { return g.name }
func (g *Group) CPUs() float64 { return g.cpus }

// Dir is the group's directory in the quota hierarchy.
func (g *Group) Dir() string { return g.dirs[0] }

// Add moves a running process (all its threads) into the group.
func (g *Group) Add(pid int) error {
	for _, dir := range g.dirs {
		if err := writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Start starts cmd with its process in the group: on cgroup v2 from its
// first instruction (clone3 with CLONE_INTO_CGROUP, through
// SysProcAttr.UseCgroupFD), otherwise moved in right after it starts. If it
// cannot be put in the group, the process is killed and reaped and the error
// returned, so a node never runs outside its quota.
func (g *Group) Start(cmd *exec.Cmd) error {
	if g.m.clone3 {
		return startInto(cmd, g.dirs[0])
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	return nil
}

// startInto starts cmd inside the cgroup v2 directory dir.
func startInto(cmd *exec.Cmd, dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup: cannot open %s: %v", dir, err)
	}
	defer syscall.Close(fd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	return cmd.Start()
}

// PIDs lists the processes in the group.
func (g *Group) PIDs() ([]int, error) {
	return readPIDs(g.dirs[0])
}

func readPIDs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Stat reads the group's CPU accounting.
func (g *Group) Stat() (Stat, error) {
	kv, err := readKV(filepath.Join(g.dirs[0], "cpu.stat"))
	if err != nil {
		return Stat{}, err
	}
	s := Stat{NrPeriods: kv["nr_periods"], NrThrottled: kv["nr_throttled"]}
	if g.m.layout == V2 {
		s.UsageUsec = kv["usage_usec"]
		s.ThrottledUsec = kv["throttled_usec"]
		return s, nil
	}
	s.ThrottledUsec = kv["throttled_time"] / 1000 // ns on v1
	acct := g.dirs[len(g.dirs)-1]
	b, err := os.ReadFile(filepath.Join(acct, "cpuacct.usage"))
	if err != nil {
		return s, fmt.Errorf("cgroup: cannot read %s: %v", filepath.Join(acct, "cpuacct.usage"), err)
	}
	ns, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return s, fmt.Errorf("cgroup: %s: %v", filepath.Join(acct, "cpuacct.usage"), err)
	}
	s.UsageUsec = ns / 1000
	return s, nil
}

func readKV(file string) (map[string]uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cgroup: cannot read %s: %v", file, err)
	}
	kv := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				kv[f[0]] = v
			}
		}
	}
	return kv, nil
}

// evictGrace is how long Remove and Close wait for a group's processes to
// exit on their own before moving them out.
const evictGrace = 500 * time.Millisecond

// Remove removes the group (a node taken out of the cluster). Processes
// still in it get evictGrace to exit, then are moved to the cgroup phantom
// itself runs in, out of the quota.
func (g *Group) Remove() error {
	m := g.m
	m.mu.Lock()
	if m.groups[g.name] != g {
		m.mu.Unlock()
		return nil
	}
	delete(m.groups, g.name)
	err := m.weigh()
	m.mu.Unlock()
	if rerr := g.remove(); rerr != nil {
		return rerr
	}
	return err
}

func (g *Group) remove() error {
	deadline := time.Now().Add(evictGrace)
	var first error
	for i, dir := range g.dirs {
		for {
			pids, err := readPIDs(dir)
			if err != nil || len(pids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				for _, pid := range pids {
					// A process that exits meanwhile cannot be moved: ESRCH is fine.
					if err := writeFile(g.m.homes[i], "cgroup.procs", strconv.Itoa(pid)); err != nil && syscall.Kill(pid, 0) == nil && first == nil {
						first = err
					}
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := g.rmdirs(); err != nil && first == nil {
		first = err
	}
	return first
}

// rmdirs removes the group's directories, retrying while the kernel still
// counts a process that has just left.
func (g *Group) rmdirs() error {
	var first error
	for _, dir := range g.dirs {
		if err := rmdirRetry(dir); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func rmdirRetry(dir string) error {
	deadline := time.Now().Add(evictGrace)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("cgroup: cannot remove %s: %v", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close removes every group and the run's parent group; processes still in
// them are moved out first (see Remove). Closing twice is a no-op.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	groups := m.groups
	m.groups = nil
	m.mu.Unlock()
	var first error
	for _, g := range groups {
		if err := g.remove(); err != nil && first == nil {
			first = err
		}
	}
	if err := m.removeDirs(); err != nil && first == nil {
		first = err
	}
	return first
}

func (m *Manager) removeDirs() error {
	var first error
	for _, dir := range m.dirs {
		if err := rmdirRetry(dir); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Describe is the quota setting in words, for the report: "cgroup v1, 0.25
// CPUs per node (cpu.cfs_quota_us 25000 per 100000 µs)".
func (m *Manager) Describe(cpus float64) string {
	if m.layout == V2 {
		return fmt.Sprintf("%s, %v CPUs per node (cpu.max %s)", m.layout, cpus, CPUMax(cpus))
	}
	return fmt.Sprintf("%s, %v CPUs per node (cpu.cfs_quota_us %d per %d µs)", m.layout, cpus, QuotaUsec(cpus), Period)
}

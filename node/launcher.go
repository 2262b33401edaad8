package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/internal/cgroup"
)

// ChildEnv set to "1" makes a process whose first argument is "node" run
// as `phantom node`: how a test binary, which has no such subcommand,
// serves as its own node processes (see RunIfChild).
const ChildEnv = "PHANTOM_NODE_CHILD"

// RunIfChild runs `phantom node` and exits when this process was started
// as a node child (ChildEnv); otherwise it returns at once. main and the
// TestMain of packages that start node processes call it first.
func RunIfChild() {
	if os.Getenv(ChildEnv) != "1" || len(os.Args) < 2 || os.Args[1] != "node" {
		return
	}
	os.Exit(Main(os.Args[2:], os.Stdout, os.Stderr))
}

// DefaultLease is the parent lease of the nodes phantom starts: a node
// whose parent has not renewed it for this long exits.
const DefaultLease = 6 * time.Second

// readyTimeout bounds how long a node process may take to print that it
// serves.
const readyTimeout = 20 * time.Second

// ProcessesConfig says how to start node processes.
type ProcessesConfig struct {
	// Exe is the binary to run as `Exe node ...`; empty means this one.
	Exe string
	// Storage and DataDir are the nodes' storage; with disk, node ID keeps
	// its files in DataDir/ID (a temporary DataDir, removed by Close, when
	// empty).
	Storage, DataDir string
	// LogDir receives node ID's log as ID.log; empty means a new
	// temporary directory, which Close leaves for the report to name.
	LogDir string
	// Lease is the parent lease; 0 means DefaultLease.
	Lease time.Duration
	// Quotas, when set, puts each node process under a CPU quota of CPUs
	// (--node-cpus): every node gets a group of its own in Quotas, made at
	// its first start, and each of its processes (a restart too) starts in
	// it. Close removes the launcher's groups; the caller closes Quotas.
	Quotas *cgroup.Manager
	CPUs   float64
}

// launcherSeq numbers launchers, so that the groups of the several
// launchers a run may open (the scalability suite's fresh clusters) do not
// share names under one cgroup.Manager.
var launcherSeq atomic.Int64

// Processes starts node processes on this machine, on 127.0.0.1 with free
// ports: core.NodeLauncher for --cluster processes.
type Processes struct {
	cfg      ProcessesConfig
	tempData bool

	seq int64

	mu       sync.Mutex
	groups   map[string]*cgroup.Group // by node id, with Quotas
	children map[string]*child
	started  []NodeProcess // every process started, in order
	exitLog                // of processes the launcher did not signal, while each is its node's current one and the launcher is open
	closed   bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

var (
	_ core.NodeLauncher = (*Processes)(nil)
	_ core.ExitWatcher  = (*Processes)(nil)
)

type child struct {
	id     string
	cmd    *exec.Cmd
	pid    int
	addr   string
	log    string
	group  *cgroup.Group // its CPU quota, nil without one
	admin  *Conn         // the launcher's own line: lease renewals
	conn   core.NodeConn // the line Start returned, which names the process to the cluster
	exited chan struct{}
	// stopping is set before the launcher signals the process (Kill,
	// Release, Close, a failed start): its exit is then expected, not
	// one on its own.
	stopping atomic.Bool
}

// NodeProcess is a node process phantom started: for the report and for
// sampling its resources.
type NodeProcess struct {
	ID   string `json:"id"`
	PID  int    `json:"pid"`
	Addr string `json:"addr"`
	Log  string `json:"log"`
	// Group is the CPU quota group the process runs in; nil without
	// --node-cpus.
	Group *cgroup.Group `json:"-"`
}

// NewProcesses makes a launcher; it starts nothing yet.
func NewProcesses(cfg ProcessesConfig) (*Processes, error) {
	p := &Processes{cfg: cfg, seq: launcherSeq.Add(1), groups: make(map[string]*cgroup.Group), children: make(map[string]*child), stop: make(chan struct{})}
	if cfg.Quotas != nil {
		if err := cgroup.ValidateCPUs(cfg.CPUs); err != nil {
			return nil, err
		}
	}
	if p.cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("node: find this binary to start nodes with: %w", err)
		}
		p.cfg.Exe = exe
	}
	if p.cfg.Lease <= 0 {
		p.cfg.Lease = DefaultLease
	}
	if p.cfg.Storage == "" {
		p.cfg.Storage = core.StorageMemory
	}
	if p.cfg.LogDir == "" {
		dir, err := os.MkdirTemp("", "phantom-nodes-")
		if err != nil {
			return nil, fmt.Errorf("node: make a log directory: %w", err)
		}
		p.cfg.LogDir = dir
	} else if err := os.MkdirAll(p.cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("node: make log directory: %w", err)
	}
	if p.cfg.Storage == core.StorageDisk && p.cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "phantom-data-")
		if err != nil {
			return nil, fmt.Errorf("node: make a data directory: %w", err)
		}
		p.cfg.DataDir, p.tempData = dir, true
	}
	return p, nil
}

// LogDir is where the nodes' logs go.
func (p *Processes) LogDir() string { return p.cfg.LogDir }

// Nodes lists the node processes running now, by id.
func (p *Processes) Nodes() []NodeProcess {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []NodeProcess
	for _, c := range p.children {
		select {
		case <-c.exited:
			continue
		default:
		}
		out = append(out, NodeProcess{ID: c.id, PID: c.pid, Addr: c.addr, Log: c.log, Group: c.group})
	}
	return out
}

// Use asks every running node process, by node id, over the launcher's
// own lines, for what only it can count: its network and its uptime to
// rate them over (procstat reads CPU, memory and disk by pid; the other
// fields are left zero). Nodes that do not answer within ctx are left
// out.
func (p *Processes) Use(ctx context.Context) map[string]ProcessUse {
	p.mu.Lock()
	admins := make(map[string]*Conn, len(p.children))
	for id, c := range p.children {
		select {
		case <-c.exited:
			continue
		default:
		}
		admins[id] = c.admin
	}
	p.mu.Unlock()
	return useOfAll(ctx, admins, true)
}

// Started lists every node process started so far, in order, those that
// have exited included: a node restarted shows twice, with its two pids.
func (p *Processes) Started() []NodeProcess {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]NodeProcess(nil), p.started...)
}

// Start starts node id's process and returns a line to it once it serves.
func (p *Processes) Start(ctx context.Context, id string, _ int) (core.NodeConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, core.ErrClosed
	}
	if c := p.children[id]; c != nil {
		select {
		case <-c.exited:
		default:
			p.mu.Unlock()
			return nil, fmt.Errorf("node: %s is already running (pid %d)", id, c.pid)
		}
	}
	p.mu.Unlock()
	c, err := p.spawn(ctx, id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.kill(c)
		return nil, core.ErrClosed
	}
	conn, err := Dial(c.addr)
	if err != nil {
		p.kill(c)
		return nil, err
	}
	c.conn = conn
	p.children[id] = c
	p.started = append(p.started, NodeProcess{ID: c.id, PID: c.pid, Addr: c.addr, Log: c.log, Group: c.group})
	p.wg.Go(func() { p.renew(c) })
	select {
	case <-c.exited:
		// It died between saying it serves and now, before its exit
		// could be told as one on its own: this error tells it, and
		// waitExit, which waited for the lock, is to keep quiet.
		c.stopping.Store(true)
		_ = conn.Close()
		return nil, fmt.Errorf("node: %s exited as it started: %s (see %s)", id, c.cmd.ProcessState, c.log)
	default:
	}
	return conn, nil
}

// waitExit reaps c once it exits, and tells of an exit on its own.
func (p *Processes) waitExit(c *child) {
	err := c.cmd.Wait()
	close(c.exited)
	if c.stopping.Load() {
		return // the launcher stopped it
	}
	reason := "exited"
	if ps := c.cmd.ProcessState; ps != nil {
		reason = ps.String() // "signal: killed", "exit status 3"
	} else if err != nil {
		reason = err.Error()
	}
	p.mu.Lock()
	if p.closed || p.children[c.id] != c || c.stopping.Load() {
		p.mu.Unlock()
		return
	}
	conn := c.conn
	p.mu.Unlock()
	p.tell(core.NodeExit{ID: c.id, PID: c.pid, Reason: reason, Log: c.log, At: time.Now()}, conn)
}

func (p *Processes) spawn(ctx context.Context, id string) (*child, error) {
	logPath := filepath.Join(p.cfg.LogDir, id+".log")
	args := []string{"node", "--id", id, "--listen", "127.0.0.1:0", "--storage", p.cfg.Storage,
		"--log", logPath, "--parent-lease", p.cfg.Lease.String()}
	if p.cfg.Storage == core.StorageDisk {
		args = append(args, "--data", filepath.Join(p.cfg.DataDir, id))
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node: open %s's log: %w", id, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(p.cfg.Exe, args...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = logf // a panic's trace lands in the log too
	setParentDeath(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	g, err := p.group(id)
	if err != nil {
		return nil, err
	}
	if g != nil {
		err = g.Start(cmd) // inside its quota from the start (v2), or moved in at once (v1)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("node: start %s: %w", id, err)
	}
	c := &child{id: id, cmd: cmd, pid: cmd.Process.Pid, log: logPath, group: g, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, r)
	}()
	go p.waitExit(c)
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	var line string
	select {
	case line = <-ready:
	case <-ctx.Done():
		p.kill(c)
		return nil, fmt.Errorf("node: start %s: %w", id, ctx.Err())
	case <-t.C:
		p.kill(c)
		return nil, fmt.Errorf("node: %s did not say it serves within %v (see %s)", id, readyTimeout, logPath)
	}
	prefix := "phantom node " + id + " serving on "
	if !strings.HasPrefix(line, prefix) {
		p.kill(c)
		return nil, fmt.Errorf("node: %s did not start (see %s): %q", id, logPath, strings.TrimSpace(line))
	}
	c.addr = strings.TrimSpace(strings.TrimPrefix(line, prefix))
	if c.admin, err = Dial(c.addr); err != nil {
		p.kill(c)
		return nil, err
	}
	return c, nil
}

// group is node id's CPU quota group, made at its first start; nil
// without Quotas. A restarted node goes back into the group it had.
func (p *Processes) group(id string) (*cgroup.Group, error) {
	if p.cfg.Quotas == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.groups[id]; g != nil {
		return g, nil
	}
	g, err := p.cfg.Quotas.NewGroup(fmt.Sprintf("l%d-%s", p.seq, id), p.cfg.CPUs)
	if err != nil {
		return nil, fmt.Errorf("node: CPU quota for %s: %w", id, err)
	}
	p.groups[id] = g
	return g, nil
}

// renew renews c's lease every third of it until c exits or the launcher
// closes.
func (p *Processes) renew(c *child) {
	t := time.NewTicker(p.cfg.Lease / 3)
	defer t.Stop()
	defer c.admin.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Lease/3)
		_ = c.admin.Renew(ctx)
		cancel()
		select {
		case <-t.C:
		case <-c.exited:
			return
		case <-p.stop:
			return
		}
	}
}

// kill SIGKILLs c and waits for it to be gone.
func (p *Processes) kill(c *child) {
	c.stopping.Store(true)
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// Kill crashes node id: SIGKILL of its process.
func (p *Processes) Kill(id string) error {
	p.mu.Lock()
	c := p.children[id]
	p.mu.Unlock()
	if c == nil {
		return fmt.Errorf("node: no process for %s", id)
	}
	p.kill(c)
	return nil
}

// Restart starts node id's process again after Kill: over its data
// directory on disk, empty in memory.
func (p *Processes) Restart(ctx context.Context, id string) (core.NodeConn, error) {
	return p.Start(ctx, id, 0)
}

// Release stops node id's process, which left the cluster: SIGTERM, then
// SIGKILL if it has not exited within a few seconds.
func (p *Processes) Release(id string) error {
	p.mu.Lock()
	c := p.children[id]
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	p.stopChild(c)
	return nil
}

// stopChild stops c: SIGTERM, then SIGKILL after a few seconds.
func (p *Processes) stopChild(c *child) {
	c.stopping.Store(true)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		p.kill(c)
	}
}

// Close stops every node process: SIGTERM, then SIGKILL for one that has
// not exited within a few seconds. It removes a temporary data directory
// and leaves the logs.
func (p *Processes) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	children := make([]*child, 0, len(p.children))
	for _, c := range p.children {
		children = append(children, c)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Go(func() { p.stopChild(c) })
	}
	wg.Wait()
	p.wg.Wait()
	var errs []error
	p.mu.Lock()
	groups := p.groups
	p.groups = nil
	p.mu.Unlock()
	for _, g := range groups {
		if err := g.Remove(); err != nil {
			errs = append(errs, fmt.Errorf("node: remove CPU quota group: %w", err))
		}
	}
	if p.tempData {
		if err := os.RemoveAll(p.cfg.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("node: remove data dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/phantomdb/phantom/api/phantompb"
	"github.com/phantomdb/phantom/core"
)

// Info is what a node says about itself.
type Info struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	PID     int64  `json:"pid"`
	Storage string `json:"storage"`
}

// Discover finds the nodes reachable from seeds: each seed, and every node
// one of them names as a peer (a node learns its peers from --peers), and
// so on. It fails when a seed does not answer, or two nodes share an id.
func Discover(ctx context.Context, seeds []string) ([]Info, error) {
	seen := map[string]bool{}
	ids := map[string]string{}
	var out []Info
	queue := append([]string(nil), seeds...)
	isSeed := map[string]bool{}
	for _, s := range seeds {
		isSeed[s] = true
	}
	for len(queue) > 0 {
		addr := queue[0]
		queue = queue[1:]
		if seen[addr] {
			continue
		}
		seen[addr] = true
		c, err := Dial(addr)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := c.Info(cctx)
		cancel()
		_ = c.Close()
		if err != nil {
			if isSeed[addr] {
				return nil, fmt.Errorf("join: node at %s does not answer: %w", addr, err)
			}
			continue // a peer that is down is not in the cluster today
		}
		if other, ok := ids[info.Id]; ok {
			return nil, fmt.Errorf("join: nodes at %s and %s are both called %s", other, addr, info.Id)
		}
		ids[info.Id] = addr
		out = append(out, Info{ID: info.Id, Addr: addr, PID: info.Pid, Storage: info.Storage})
		queue = append(queue, info.Peers...)
	}
	return out, nil
}

// Join drives nodes something else started: core.NodeLauncher for
// --cluster join=. Start hands out the discovered nodes in order, each
// reset to no replicas; Kill tells a node to exit at once over its admin
// API; Restart is refused, since whatever started the node restarts it.
type Join struct {
	nodes []Info

	mu      sync.Mutex
	next    int
	inUse   map[string]*Conn // controller's node id -> the launcher's line to it
	names   map[string]string
	mons    map[string]*monitor // controller's node id -> its exit monitor
	exitLog                     // of the nodes in use whose processes exit without the launcher asking (see monitor)
}

var (
	_ core.NodeLauncher = (*Join)(nil)
	_ core.ExitWatcher  = (*Join)(nil)
)

// monitor watches a joined node for an exit the launcher did not ask for.
// Nothing tells phantom when a process it did not start dies, so it holds
// a Watch stream open on the node: the stream breaks at once when the
// process goes, and a probe then tells a dead node (it does not answer,
// or answers as another process) from a broken line.
type monitor struct {
	cancel context.CancelFunc // stopMonitor's, after taking it out of Join.mons
	done   chan struct{}
}

// Probing a node whose watch broke: this many calls, each bounded, this
// far apart, before it counts as gone.
const (
	probeTries   = 3
	probeTimeout = time.Second
	probeGap     = 300 * time.Millisecond
)

// monitorNode starts watching node n, the cluster's id, for an exit on its
// own; conn is the cluster's line to it.
func (j *Join) monitorNode(id string, n Info, admin *Conn, conn core.NodeConn) *monitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &monitor{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			err := admin.Watch(ctx, func(int, string, uint64) {})
			if ctx.Err() != nil {
				return
			}
			reason, gone := probe(ctx, admin, n.PID, err)
			if ctx.Err() != nil {
				return
			}
			if gone {
				j.exited(id, n, reason, conn, m)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(probeGap):
			}
		}
	}()
	return m
}

// probe asks a node whose watch broke with err who it is: gone when it
// does not answer, or answers with another pid (restarted by what started
// it, without its replicas).
func probe(ctx context.Context, admin *Conn, pid int64, err error) (string, bool) {
	for i := range probeTries {
		if i > 0 {
			select {
			case <-ctx.Done():
				return "", false
			case <-time.After(probeGap):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		info, ierr := admin.Info(pctx)
		cancel()
		if ierr == nil {
			if info.Pid != pid {
				return fmt.Sprintf("its process %d is gone; pid %d answers now, restarted without its replicas", pid, info.Pid), true
			}
			return "", false
		}
		err = ierr
	}
	return fmt.Sprintf("its process stopped answering (%v)", err), true
}

// exited records node id's exit on its own and tells the cluster.
func (j *Join) exited(id string, n Info, reason string, conn core.NodeConn, m *monitor) {
	j.mu.Lock()
	if j.mons[id] != m { // stopMonitor took it out: the launcher's doing
		j.mu.Unlock()
		return
	}
	j.mu.Unlock()
	j.tell(core.NodeExit{ID: id, PID: int(n.PID), Reason: reason, At: time.Now()}, conn)
}

// stopMonitor ends node id's monitor, if any, and waits for it.
func (j *Join) stopMonitor(id string) {
	j.mu.Lock()
	m := j.mons[id]
	delete(j.mons, id)
	j.mu.Unlock()
	if m == nil {
		return
	}
	m.cancel()
	<-m.done
}

// NewJoin discovers the nodes reachable from seeds.
func NewJoin(ctx context.Context, seeds []string) (*Join, error) {
	nodes, err := Discover(ctx, seeds)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("join: no node found")
	}
	return &Join{nodes: nodes, inUse: map[string]*Conn{}, names: map[string]string{}, mons: map[string]*monitor{}}, nil
}

// Nodes are the nodes found.
func (j *Join) Nodes() []Info { return j.nodes }

// Start takes the next node found and resets it; id becomes its name in
// the cluster.
func (j *Join) Start(ctx context.Context, id string, _ int) (core.NodeConn, error) {
	j.mu.Lock()
	if j.next >= len(j.nodes) {
		j.mu.Unlock()
		return nil, fmt.Errorf("join: all %d nodes found are in use; start another with --peers naming one of them", len(j.nodes))
	}
	n := j.nodes[j.next]
	j.next++
	j.mu.Unlock()
	admin, err := Dial(n.Addr)
	if err != nil {
		return nil, err
	}
	if err := admin.Reset(ctx); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("join: reset node %s at %s: %w", n.ID, n.Addr, err)
	}
	conn, err := Dial(n.Addr)
	if err != nil {
		_ = admin.Close()
		return nil, err
	}
	j.mu.Lock()
	j.inUse[id], j.names[id] = admin, n.ID
	j.mu.Unlock()
	m := j.monitorNode(id, n, admin, conn)
	j.mu.Lock()
	j.mons[id] = m
	j.mu.Unlock()
	return conn, nil
}

// Kill tells node id to exit at once: the crash join mode can cause.
func (j *Join) Kill(id string) error {
	j.mu.Lock()
	admin := j.inUse[id]
	j.mu.Unlock()
	if admin == nil {
		return fmt.Errorf("join: no node %s", id)
	}
	j.stopMonitor(id) // this exit is the cluster's
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := admin.Exit(ctx, true)
	if errors.Is(err, core.ErrNodeUnreachable) {
		return nil // it exited before answering
	}
	return err
}

// Restart is refused: phantom did not start the node.
func (j *Join) Restart(_ context.Context, id string) (core.NodeConn, error) {
	j.mu.Lock()
	name := j.names[id]
	j.mu.Unlock()
	return nil, fmt.Errorf("%w: restart of %s (node %s): in join mode phantom did not start the node; restart it with what started it", core.ErrRefused, id, name)
}

// Release resets node id, which left the cluster, and lets go of it; it
// keeps running, free for another run.
func (j *Join) Release(id string) error {
	j.stopMonitor(id)
	j.mu.Lock()
	admin := j.inUse[id]
	delete(j.inUse, id)
	j.mu.Unlock()
	if admin == nil {
		return nil
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.Reset(ctx); err != nil && !errors.Is(err, core.ErrNodeUnreachable) {
		return fmt.Errorf("join: reset %s: %w", id, err)
	}
	return nil
}

// Close resets the nodes in use, so that the next run finds them empty,
// and lets go of them; they keep running.
func (j *Join) Close() error {
	j.mu.Lock()
	ids := make([]string, 0, len(j.mons))
	for id := range j.mons {
		ids = append(ids, id)
	}
	j.mu.Unlock()
	for _, id := range ids {
		j.stopMonitor(id)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for id, admin := range j.inUse {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := admin.Reset(ctx); err != nil && !errors.Is(err, core.ErrNodeUnreachable) {
			errs = append(errs, fmt.Errorf("join: reset %s: %w", id, err))
		}
		cancel()
		_ = admin.Close()
		delete(j.inUse, id)
	}
	return errors.Join(errs...)
}

// ProcessUse is what a node's process says it uses: counters since it
// started, which the sampler turns into rates over Uptime's differences.
type ProcessUse struct {
	PID        int
	CPUSeconds float64 // user and system CPU since the process started
	RSSBytes   uint64
	// Uptime is the node's time since it started, on its own monotonic
	// clock, at the report.
	Uptime time.Duration
	// RaftSent and RaftRecv are the bytes its Raft links carried, APISent
	// and APIRecv those of its client and admin API (on the wire).
	RaftSent, RaftRecv, APISent, APIRecv uint64
	// DiskRead and DiskWrite are its storage traffic (/proc/self/io),
	// when HasDisk.
	HasDisk             bool
	DiskRead, DiskWrite uint64
}

// NetSent and NetRecv are the node's network bytes: Raft links and API.
func (u ProcessUse) NetSent() uint64 { return u.RaftSent + u.APISent }
func (u ProcessUse) NetRecv() uint64 { return u.RaftRecv + u.APIRecv }

func useOf(r *phantompb.Resources) ProcessUse {
	return ProcessUse{PID: int(r.Pid), CPUSeconds: r.CpuSeconds, RSSBytes: r.RssBytes, Uptime: time.Duration(r.UptimeNs),
		RaftSent: r.RaftSentBytes, RaftRecv: r.RaftRecvBytes, APISent: r.ApiSentBytes, APIRecv: r.ApiRecvBytes,
		HasDisk: r.HasDisk, DiskRead: r.DiskReadBytes, DiskWrite: r.DiskWriteBytes}
}

// Use asks every node in use what its process uses, by the cluster's
// node id; nodes that do not answer within ctx are left out.
func (j *Join) Use(ctx context.Context) map[string]ProcessUse {
	j.mu.Lock()
	admins := make(map[string]*Conn, len(j.inUse))
	for id, c := range j.inUse {
		admins[id] = c
	}
	j.mu.Unlock()
	return useOfAll(ctx, admins, false)
}

// useOfAll asks each node of admins for its use, in parallel, within ctx:
// with countersOnly, only what the node counts itself (its network and
// uptime).
func useOfAll(ctx context.Context, admins map[string]*Conn, countersOnly bool) map[string]ProcessUse {
	out := make(map[string]ProcessUse, len(admins))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, c := range admins {
		wg.Go(func() {
			r, err := c.resources(ctx, countersOnly)
			if err != nil {
				return
			}
			mu.Lock()
			out[id] = useOf(r)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

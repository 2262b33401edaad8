package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// NodeHostConfig says what a node process is.
type NodeHostConfig struct {
	// ID is the node's id in its cluster ("n1", ...).
	ID string
	// Host is the address its replicas listen on and peers reach them at.
	Host string
	// Storage and DataDir are as in Config; DataDir is required on disk
	// and holds this node's replicas only.
	Storage string
	DataDir string
	// LogOutput receives the node's log lines; nil discards them.
	LogOutput io.Writer
}

// NodeHost runs the replicas of one node in this process: what a `phantom
// node` process serves. The controller (a Cluster with a Launcher) starts
// and stops replicas on it and calls them through its NodeConn, whose
// methods NodeHost's mirror.
type NodeHost struct {
	cfg    NodeHostConfig
	logger hclog.Logger
	nw     *netsim.Network

	mu     sync.Mutex
	node   *node // slot set by the first replica's spec
	seats  map[int]*seat
	closed bool

	wmu      sync.Mutex
	watchers map[int]func(shard int, leader string, term uint64)
	nextW    int
}

// NewNodeHost makes a node host; it runs nothing until the controller
// starts replicas on it.
func NewNodeHost(cfg NodeHostConfig) (*NodeHost, error) {
	switch cfg.Storage {
	case "", StorageMemory:
		cfg.Storage = StorageMemory
	case StorageDisk:
		if cfg.DataDir == "" {
			return nil, errors.New("core: a node with disk storage needs a data directory")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("core: make data dir: %w", err)
		}
	default:
		return nil, fmt.Errorf("core: storage must be %q or %q, got %q", StorageMemory, StorageDisk, cfg.Storage)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	nw := netsim.New(MaxNodes)
	nw.AllowOffMachine() // a node's peers may run on other hosts
	return &NodeHost{
		cfg:      cfg,
		logger:   newLogger(cfg.LogOutput),
		nw:       nw,
		seats:    make(map[int]*seat),
		watchers: make(map[int]func(int, string, uint64)),
	}, nil
}

// ID is the node's id.
func (h *NodeHost) ID() string { return h.cfg.ID }

// Traffic is the bytes the node's Raft links have sent and received since
// it started, over every replica it has had: its network use, which the
// OS does not count per process.
func (h *NodeHost) Traffic() (sent, recv uint64) { return h.nw.TotalTraffic() }

func (h *NodeHost) hostConfig(spec replicaSpec) Config {
	cfg := spec.Config
	cfg.Storage, cfg.DataDir, cfg.LogOutput, cfg.Launcher = h.cfg.Storage, h.cfg.DataDir, nil, nil
	return cfg
}

// StartReplica starts a replica from spec and returns its Raft address.
// A replica the controller restarts comes back on its old address, over
// the stores it had: those of this process, or its directory on disk after
// the process itself restarted, or empty in memory mode.
func (h *NodeHost) StartReplica(ctx context.Context, specBytes []byte) (string, error) {
	var spec replicaSpec
	if err := json.Unmarshal(specBytes, &spec); err != nil {
		return "", fmt.Errorf("core: malformed replica spec: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return "", ErrClosed
	}
	if h.node == nil {
		// The controller names the nodes: a node something else started
		// takes the id it is given as its Raft server id.
		h.node = &node{id: spec.Node, index: spec.Slot, quit: make(chan struct{})}
		h.node.up.Store(true)
	}
	if spec.Node != h.node.id {
		return "", fmt.Errorf("core: replica spec for node %s sent to node %s", spec.Node, h.node.id)
	}
	cfg := h.hostConfig(spec)
	st := h.seats[spec.Shard]
	if st != nil && !st.replica().stopped.Load() {
		return "", fmt.Errorf("core: shard %d already runs on %s", spec.Shard, h.cfg.ID)
	}
	addr := net.JoinHostPort(h.cfg.Host, "0")
	if st != nil {
		addr = string(st.addr)
	} else {
		sh := &shard{id: spec.Shard, elections: newElectionLog(), lostAt: time.Now(), fault: make(chan struct{}, 1)}
		sh.onLeader = func(leader string, term uint64) { h.publish(spec.Shard, leader, term) }
		st = &seat{shard: sh, node: h.node}
		if spec.Restart {
			if spec.Addr == "" {
				return "", errors.New("core: restart of a replica without its address")
			}
			addr = spec.Addr
			if err := h.reopenStorage(st, cfg); err != nil {
				return "", err
			}
		} else if err := st.initStorage(cfg); err != nil {
			return "", err
		}
	}
	stream, err := netsim.Listen(addr, h.nw, h.node.index)
	if err != nil {
		return "", fmt.Errorf("core: listen for shard %d on %s: %w", spec.Shard, h.cfg.ID, err)
	}
	st.addr = stream.Address()
	if _, err := startReplica(st, stream, cfg, h.logger); err != nil {
		_ = stream.Close()
		return "", err
	}
	if h.seats[spec.Shard] == nil {
		h.seats[spec.Shard] = st
		st.shard.addSeat(st)
	}
	return string(st.addr), nil
}

// reopenStorage gives a seat of a restarted process its stores: the
// newest directory of its group on disk, or empty ones in memory.
func (h *NodeHost) reopenStorage(st *seat, cfg Config) error {
	if !cfg.onDisk() {
		return st.initStorage(cfg)
	}
	group := "shard-" + strconv.Itoa(st.shard.id)
	if st.shard.id == metaShardID {
		group = "meta"
	}
	parent := filepath.Join(cfg.DataDir, group)
	for i := 1; ; i++ {
		name := h.cfg.ID
		if i > 1 {
			name += "." + strconv.Itoa(i)
		}
		if _, err := os.Stat(filepath.Join(parent, name)); err != nil {
			if i == 1 {
				return st.initStorage(cfg)
			}
			break
		}
		st.dir = filepath.Join(parent, name)
	}
	return nil
}

func (h *NodeHost) seat(shard int) (*seat, error) {
	h.mu.Lock()
	st := h.seats[shard]
	h.mu.Unlock()
	if st == nil {
		return nil, fmt.Errorf("%w: %d on node %s", ErrUnknownShard, shard, h.cfg.ID)
	}
	return st, nil
}

// StopReplica crashes the replica of shard; drop also forgets its seat and
// deletes its stores.
func (h *NodeHost) StopReplica(_ context.Context, shard int, drop bool) error {
	st, err := h.seat(shard)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	err = st.replica().stop()
	if drop {
		delete(h.seats, shard)
		err = errors.Join(err, st.removeStorage())
	}
	return err
}

// Apply replicates cmd through the replica of shard, which must lead, and
// returns the entry's index and the state machine's response, encoded.
// With timed, it times the entry's phases as applyTimed does in embedded
// mode, and its own time for the call, for the controller (NodeTimes).
func (h *NodeHost) Apply(_ context.Context, shard int, cmd []byte, timeout time.Duration, timed bool) (uint64, []byte, NodeTimes, error) {
	var t NodeTimes
	var ph *Phases
	if timed {
		ph = &t.Phases
	}
	start := ph.clock()
	st, err := h.seat(shard)
	if err != nil {
		return 0, nil, NodeTimes{}, err
	}
	// A response that is an error (a lock met) comes back as the error.
	index, resp, err := st.replica().applyTimed(cmd, timeout, ph)
	if err != nil {
		return 0, nil, NodeTimes{}, err
	}
	b := encodeResponse(resp)
	if timed {
		t.Took = time.Duration(nanotime() - start)
	}
	return index, b, t, nil
}

// Read runs a read (fsmQuery, encoded) on the replica of shard and returns
// the answer, encoded. With timed, it times a barrier read's phases as
// readBarrier does in embedded mode, and its own time for the call.
func (h *NodeHost) Read(ctx context.Context, shard int, query []byte, timeout time.Duration, timed bool) ([]byte, NodeTimes, error) {
	var ph *Phases
	if timed {
		// The read's retry holds ph, and escape analysis cannot tell it
		// from the retry's context, which leaks: a Phases of the stack
		// would move to the heap on every read. A timed read allocates
		// it; an untimed one allocates nothing.
		ph = new(Phases)
	}
	start := ph.clock()
	a, err := h.read(ctx, shard, query, timeout, ph)
	if err != nil || !timed {
		return a, NodeTimes{}, err
	}
	return a, NodeTimes{Phases: *ph, Took: time.Duration(nanotime() - start)}, nil
}

func (h *NodeHost) read(ctx context.Context, shard int, query []byte, timeout time.Duration, ph *Phases) ([]byte, error) {
	st, err := h.seat(shard)
	if err != nil {
		return nil, err
	}
	var q fsmQuery
	if err := json.Unmarshal(query, &q); err != nil {
		return nil, fmt.Errorf("core: malformed read: %w", err)
	}
	rep := st.replica()
	if rep.stopped.Load() {
		return nil, raft.ErrRaftShutdown
	}
	if q.Kind == "applied" && q.ID > 0 {
		// Wait, within timeout, until the state machine has applied
		// index q.ID: PutReplicated's wait for a follower.
		deadline := time.Now().Add(min(max(timeout, 0), remoteTimeout))
		for rep.fsm.appliedIndex() < q.ID && !rep.stopped.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
			awaitApplied(ctx, rep.fsm, q.ID, min(applyRecheck, time.Until(deadline)))
		}
	}
	if q.Barrier {
		if timeout <= 0 {
			timeout = remoteTimeout
		}
		rt := retry{ctx: ctx, op: "read", deadline: time.Now().Add(timeout), ph: ph}
		if err := readBarrier(rep, timeout, &rt); err != nil {
			return nil, err
		}
	}
	a, err := answer(rep.fsm, &q)
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// awaitApplied waits until f has applied index, for wait at most or until
// ctx ends; the caller looks again at what it waits for. Like
// retry.awaitApplied, it wakes when f applies rather than polling.
func awaitApplied(ctx context.Context, f *fsm, index uint64, wait time.Duration) {
	moved, done := f.watchApplied()
	defer done()
	if f.appliedIndex() >= index || wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-moved:
	case <-t.C:
	case <-ctx.Done():
	}
}

// answer runs q on f.
func answer(f *fsm, q *fsmQuery) (*fsmAnswer, error) {
	var a fsmAnswer
	switch q.Kind {
	case "get":
		if q.Barrier {
			v, ok, held := f.getHeld(q.Key)
			a.Value, a.Found, a.Held = v, ok, holdersToWire(held)
		} else {
			a.Value, a.Found = f.get(q.Key)
		}
	case "sum":
		r := sumRead{keys: q.Keys}
		held, err := r.run(f)
		if err != nil {
			return nil, err
		}
		a.Sum, a.Neg, a.Held = r.sum, r.neg, holdersToWire(held)
	case "outcome":
		a.Outcome = f.outcome(q.ID)
	case "holders":
		a.Held = holdersToWire(f.lockHolders())
	case "stale":
		a.Stale = f.staleCommits(q.Now, q.N)
	case "locks":
		a.Count = f.lockCount()
	case "applied":
		a.Applied = f.appliedIndex()
	case "query":
		if q.Query == nil {
			return nil, errors.New("core: query read without a query")
		}
		p := planQuery(*q.Query, q.Total)
		part, held, err := p.scan(f)
		if err != nil {
			return nil, err
		}
		a.Held = holdersToWire(held)
		a.Partial = make(map[string]wirePartial, len(part))
		for g, x := range part {
			a.Partial[g] = wirePartial{x.count, x.sum, x.min, x.max}
		}
	default:
		return nil, fmt.Errorf("core: unknown read %q", q.Kind)
	}
	return &a, nil
}

// Raft runs a configuration change or leadership call (raftOp, encoded)
// on the replica of shard.
func (h *NodeHost) Raft(_ context.Context, shard int, opBytes []byte) ([]byte, error) {
	st, err := h.seat(shard)
	if err != nil {
		return nil, err
	}
	var op raftOp
	if err := json.Unmarshal(opBytes, &op); err != nil {
		return nil, fmt.Errorf("core: malformed raft call: %w", err)
	}
	rep := st.replica()
	if !rep.enter() {
		return nil, raft.ErrRaftShutdown
	}
	defer rep.exit()
	switch op.Op {
	case "transfer":
		return nil, rep.transferTo("", "")
	case "transfer-to":
		return nil, rep.transferTo(op.ID, raft.ServerAddress(op.Addr))
	case "add-nonvoter", "add-voter", "remove":
		return nil, rep.changeConfig(op.Op, op.ID, raft.ServerAddress(op.Addr), op.Timeout)
	case "bootstrap":
		servers := make([]raft.Server, len(op.Servers))
		for i, s := range op.Servers {
			servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Addr)}
		}
		return nil, rep.bootstrap(servers)
	case "retime":
		if op.T == nil {
			return nil, errors.New("core: retime without timeouts")
		}
		return nil, rep.retime(raftTimeouts{heartbeat: op.T.Heartbeat, election: op.T.Election, lease: op.T.Lease})
	case "commit-index":
		return json.Marshal(rep.raft.CommitIndex())
	}
	return nil, fmt.Errorf("core: unknown raft call %q", op.Op)
}

// Network changes this node's stream layer (netOp, encoded): partitions,
// shaping and the addresses of the other nodes' replicas.
func (h *NodeHost) Network(_ context.Context, opBytes []byte) error {
	var op netOp
	if err := json.Unmarshal(opBytes, &op); err != nil {
		return fmt.Errorf("core: malformed network call: %w", err)
	}
	switch op.Op {
	case "isolate":
		h.nw.Isolate(op.Slot)
	case "heal":
		h.nw.Heal()
	case "link":
		if err := op.Link.Validate(); err != nil {
			return err
		}
		h.nw.SetLink(op.Slot, op.To, op.Link)
	case "peers":
		for addr, slot := range op.Peers {
			h.nw.AddPeer(addr, slot)
		}
	default:
		return fmt.Errorf("core: unknown network call %q", op.Op)
	}
	return nil
}

// Status reports the node's replicas, encoded.
func (h *NodeHost) Status(_ context.Context) ([]byte, error) {
	h.mu.Lock()
	seats := make([]*seat, 0, len(h.seats))
	for _, st := range h.seats {
		seats = append(seats, st)
	}
	h.mu.Unlock()
	slices.SortFunc(seats, func(a, b *seat) int { return a.shard.id - b.shard.id })
	ns := nodeStatusWire{Node: h.cfg.ID}
	for _, st := range seats {
		rep := st.replica()
		state, term, commit, applied, last := rep.raftStatus()
		ns.Replicas = append(ns.Replicas, wireReplicaStatus{
			Shard: st.shard.id, State: stateName(state), Term: term,
			Commit: commit, Applied: applied, Last: last, Leader: state == raft.Leader,
		})
	}
	return json.Marshal(ns)
}

// Ping answers a heartbeat.
func (h *NodeHost) Ping(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	return nil
}

// Watch calls f with every leader change a replica of the node sees, the
// current leaders first, until ctx ends. f runs on raft's goroutines: it
// must not block.
func (h *NodeHost) Watch(ctx context.Context, f func(shard int, leader string, term uint64)) error {
	h.wmu.Lock()
	id := h.nextW
	h.nextW++
	h.watchers[id] = f
	h.wmu.Unlock()
	defer func() {
		h.wmu.Lock()
		delete(h.watchers, id)
		h.wmu.Unlock()
	}()
	h.mu.Lock()
	for shard, st := range h.seats {
		rep := st.replica()
		if rep.stopped.Load() {
			continue
		}
		_, leader := rep.raft.LeaderWithID()
		f(shard, string(leader), rep.raft.CurrentTerm())
	}
	h.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (h *NodeHost) publish(shard int, leader string, term uint64) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	for _, f := range h.watchers {
		f(shard, leader, term)
	}
}

// Close stops every replica of the node.
func (h *NodeHost) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	reps := make([]*replica, 0, len(h.seats))
	for _, st := range h.seats {
		reps = append(reps, st.replica())
	}
	h.mu.Unlock()
	err := stopReplicas(reps)
	h.nw.Wait()
	return err
}

// Reset stops every replica and deletes their stores, leaving the node as
// it started, for the next controller.
func (h *NodeHost) Reset(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	reps := make([]*replica, 0, len(h.seats))
	for _, st := range h.seats {
		reps = append(reps, st.replica())
	}
	err := stopReplicas(reps)
	for shard, st := range h.seats {
		err = errors.Join(err, st.removeStorage())
		delete(h.seats, shard)
	}
	h.node = nil
	h.nw.Heal()
	return err
}

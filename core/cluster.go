package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/phantomdb/phantom/core/internal/netsim"
)

// Cluster is an in-process PhantomDB cluster. Its methods are safe for
// concurrent use, including Close with calls in flight.
type Cluster struct {
	cfg    Config
	logger hclog.Logger

	// shards is fixed once NewCluster returns, so reading it takes no lock.
	// nodes and byID change with AddNode and RemoveNode, which hold both mu
	// and topo's write lock; readers hold either. A shard's and a node's
	// seats are copy-on-write (see shard.seatList); the rest that changes at
	// run time (a node going down, a seat's current replica, a replica's
	// raft state) is atomic or raft's own.
	topo   sync.RWMutex
	nodes  []*node
	byID   map[string]*node
	shards []*shard

	// meta is the meta group: a Raft group of up to three voters whose
	// state machine holds membership, node health and placement (meta.go).
	meta *shard
	det  *detector

	// nextSeq numbers the next node added; freeSlots are the network slots
	// no node holds. Both are guarded by mu.
	nextSeq   int
	freeSlots []int

	memberMu sync.Mutex     // serialises AddNode and RemoveNode
	bg       sync.WaitGroup // heartbeat loops and the failure detector

	nw        *netsim.Network
	elections *electionLog

	mu     sync.Mutex // serialises the fault controls and Close
	closed atomic.Bool

	// timeouts are the raft timeouts every group runs with, grown for the
	// network's round trip (timeouts.go); never nil once NewCluster has
	// begun. They change under mu. retimeGen counts changes of the
	// network's shaping, so that a shrink scheduled for an older one
	// (retimeTimer) does nothing.
	timeouts    atomic.Pointer[raftTimeouts]
	entryBytes  atomic.Int64 // see SetEntryBytes
	retimeGen   uint64
	retimeTimer *time.Timer
	done        chan struct{} // closed by Close, so that calls waiting out a backoff return at once

	data *dataDir // disk mode's data directory, nil in memory mode (storage.go)

	txn txnCoord // transaction bookkeeping kept by coordinators (txn.go)
}

// balanceRounds bounds how many times NewCluster moves leaderships onto
// their preferred replicas; one round almost always suffices.
const balanceRounds = 5

// NewCluster validates cfg, starts cfg.Nodes nodes and the shards' replicas
// on them, and returns once every shard has elected a leader and
// leaderships have been balanced over the nodes. If ctx ends first (or, when
// ctx has no deadline, cfg.OpTimeout passes), it stops everything it started
// and returns an error.
func NewCluster(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.timeScale = cfg.loadScale(runtime.GOMAXPROCS(0))
	var data *dataDir
	var err error
	if cfg.Launcher == nil { // node processes keep their own data
		if data, err = openDataDir(&cfg); err != nil {
			return nil, err
		}
	}
	c := &Cluster{
		data:      data,
		cfg:       cfg,
		logger:    newLogger(cfg.LogOutput),
		byID:      make(map[string]*node, cfg.Nodes),
		nw:        netsim.New(cfg.maxNodes()),
		elections: newElectionLog(),
		done:      make(chan struct{}),
		nextSeq:   cfg.Nodes + 1,
	}
	c.det = newDetector(c)
	for i := range cfg.Nodes {
		n := newNode(i+1, i)
		n.remote = cfg.Launcher != nil
		c.nodes = append(c.nodes, n)
		c.byID[n.id] = n
	}
	for i := cfg.maxNodes() - 1; i >= cfg.Nodes; i-- {
		c.freeSlots = append(c.freeSlots, i)
	}
	if cfg.NetDelay > 0 {
		l := netsim.Link{Delay: cfg.NetDelay}
		c.nw.SetDefaultLink(l)
		for _, a := range c.nodes {
			for _, b := range c.nodes {
				if a != b {
					c.nw.SetLink(a.index, b.index, l)
				}
			}
		}
	}
	c.entryBytes.Store(int64(max(cfg.EntryBytes, 0)))
	t := cfg.timeoutsFor(c.nw.MaxRoundTrip(), c.entryBytes.Load())
	c.timeouts.Store(&t)
	err = c.start(ctx)
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.remoteMode() {
		if err := c.launchNodes(ctx); err != nil {
			return err
		}
	}
	for id, nodes := range placeReplicas(c.cfg.shardCount(), c.nodes) {
		sh, err := newShard(id, nodes, c.nw, c.elections, c.raftConfig(), c.logger)
		if sh != nil {
			c.shards = append(c.shards, sh)
		}
		if err != nil {
			return err
		}
	}
	meta, err := newShard(metaShardID, c.nodes[:min(replicationFactor, len(c.nodes))], c.nw, newElectionLog(), c.raftConfig(), c.logger)
	c.meta = meta
	if err != nil {
		return err
	}
	c.syncNetwork() // the nodes learn where their peers listen
	for _, sh := range append([]*shard{c.meta}, c.shards...) {
		if err := sh.bootstrap(); err != nil {
			return err
		}
	}
	if err := c.waitAllLeaders(ctx, "start"); err != nil {
		return err
	}
	if err := c.initMeta(ctx); err != nil {
		return err
	}
	c.startHealth()
	return c.balanceLeaders(ctx)
}

// newLogger never returns a logger that writes to stderr: hclog.New falls
// back to stderr when Output is nil.
func newLogger(w io.Writer) hclog.Logger {
	if w == nil {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "core", Output: w, Level: hclog.Info})
}

// shardIndex hash-partitions keys over n shards with 32-bit FNV-1a, inline
// so that routing a call allocates nothing. The hash has no seed, so a key
// goes to the same shard in every run.
func shardIndex(key string, n int) int {
	if n == 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

func (c *Cluster) shardFor(key string) *shard {
	return c.shards[shardIndex(key, len(c.shards))]
}

// ShardOf returns the shard that key belongs to.
func (c *Cluster) ShardOf(key string) int { return shardIndex(key, len(c.shards)) }

// Shards returns how many shards the cluster has; it never changes.
func (c *Cluster) Shards() int { return len(c.shards) }

func (c *Cluster) shard(id int) (*shard, error) {
	if id < 0 || id >= len(c.shards) {
		return nil, fmt.Errorf("%w: %d (the cluster has %d)", ErrUnknownShard, id, len(c.shards))
	}
	return c.shards[id], nil
}

// WaitLeader waits until shard 0 has a leader and returns its node id. It
// gives up when ctx ends or, when ctx has no deadline, after Config.OpTimeout.
func (c *Cluster) WaitLeader(ctx context.Context) (string, error) {
	rep, err := c.waitLeader(ctx, c.shards[0], "wait for leader")
	if err != nil {
		return "", err
	}
	return rep.node.id, nil
}

// ShardLeader waits until the shard has a leader and returns its node id,
// with deadlines as for WaitLeader.
func (c *Cluster) ShardLeader(ctx context.Context, shard int) (string, error) {
	sh, err := c.shard(shard)
	if err != nil {
		return "", err
	}
	rep, err := c.waitLeader(ctx, sh, "wait for leader")
	if err != nil {
		return "", err
	}
	return rep.node.id, nil
}

func (c *Cluster) waitLeader(ctx context.Context, sh *shard, op string) (*replica, error) {
	return c.waitLeaderOtherThan(ctx, sh, nil, op)
}

// waitLeaderOtherThan waits for a leader of sh that is not old.
func (c *Cluster) waitLeaderOtherThan(ctx context.Context, sh *shard, old *replica, op string) (*replica, error) {
	rt := c.newRetry(ctx, op)
	defer rt.stop()
	for {
		if _, err := rt.begin(); err != nil {
			return nil, err
		}
		rep, err := sh.leaderReplica()
		if err == nil && rep == old {
			err = ErrNoLeader
		}
		if err == nil {
			return rep, nil
		}
		if err := rt.after(err); err != nil {
			return nil, err
		}
	}
}

func (c *Cluster) waitAllLeaders(ctx context.Context, op string) error {
	for _, sh := range c.shards {
		if _, err := c.waitLeader(ctx, sh, op); err != nil {
			return fmt.Errorf("shard %d: %w", sh.id, err)
		}
	}
	if c.meta != nil {
		if _, err := c.waitLeader(ctx, c.meta, op); err != nil {
			return fmt.Errorf("meta group: %w", err)
		}
	}
	return nil
}

// BalanceLeaders moves each shard's leadership back to its preferred
// replica, as NewCluster does after start, so that no node leads more than
// ceil(S/N) shards. Elections after start (a crash, a partition, a slow
// heartbeat) may leave leaderships uneven until it is called.
func (c *Cluster) BalanceLeaders(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.balanceLeaders(ctx)
}

// balanceLeaders moves each shard's leadership to its first replica, which
// placement spreads evenly over the nodes. Raft's elections land wherever a
// timer fires first; without this a node may lead several shards while
// another leads none.
func (c *Cluster) balanceLeaders(ctx context.Context) error {
	for range balanceRounds {
		var wg sync.WaitGroup
		moved := false
		for _, sh := range c.shards {
			want := sh.seats()[0]
			rep, err := sh.leaderReplica()
			if err != nil || rep.seat == want || !want.node.up.Load() {
				continue
			}
			moved = true
			wg.Go(func() {
				sh.markLost(time.Now())
				err := rep.transferTo(want.node.id, want.addr)
				if err != nil {
					sh.clearLost(rep)
					c.logger.Info("leadership transfer failed", "shard", sh.id, "to", want.node.id, "error", err)
				}
			})
		}
		wg.Wait()
		if !moved {
			return nil
		}
		if err := c.waitAllLeaders(ctx, "balance leaders"); err != nil {
			return err
		}
		c.waitElectionsRecorded(ctx)
	}
	return nil
}

// recordWait bounds waitElectionsRecorded: an observer runs microseconds
// after raft changes state, so a longer wait means the leader changed
// again meanwhile, which is recorded in its own time.
const recordWait = time.Second

// waitElectionsRecorded waits, for recordWait at most, until every shard's
// leader has had its election recorded. raft sets a new leader's state
// before it tells the observers, so a leader found by its state may not be
// in Elections yet; a caller counting elections from the moment the
// balancing returns must not find one of its moves there.
func (c *Cluster) waitElectionsRecorded(ctx context.Context) {
	deadline := time.Now().Add(recordWait)
	for _, sh := range c.shards {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			rep, err := sh.leaderReplica()
			if err != nil || sh.leader.Load() == rep {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Close stops every replica and waits for their goroutines, raft's included.
// Calls in flight return ErrClosed, as does every call afterwards. Closing
// again does nothing and returns nil.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.done)
	c.retimeGen++
	if c.retimeTimer != nil {
		c.retimeTimer.Stop()
	}
	for _, n := range c.nodes {
		n.up.Store(false)
	}
	var reps []*replica
	groups := c.shards
	if c.meta != nil {
		groups = append([]*shard{c.meta}, groups...)
	}
	for _, sh := range groups {
		for _, st := range sh.seats() {
			reps = append(reps, st.replica())
		}
	}
	err := stopReplicas(reps)
	if c.remoteMode() {
		err = errors.Join(err, c.closeRemote())
	}
	// The background loops never take mu; with done closed and the
	// replicas stopped they return at once.
	c.bg.Wait()
	c.nw.Wait()
	// Every replica has closed its files.
	return errors.Join(err, c.data.close())
}

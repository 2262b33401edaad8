package suites

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/mem"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Runner drives the chosen suites against an embedded cluster, one suite
// after another, and publishes a Snapshot every tick.
type Runner struct {
	cfg    Config
	suites []Suite

	latest   atomic.Pointer[metrics.Snapshot]
	failed   atomic.Pointer[error] // first panic in a load client
	controls chan controlReq       // live changes for the running suite
	// accepting is non-nil while a suite takes controls; it is closed
	// when that suite stops taking them.
	accepting atomic.Pointer[chan struct{}]

	// For Report, from any goroutine while Run goes on.
	startedAt   atomic.Pointer[time.Time]
	liveSampler atomic.Pointer[metrics.Sampler]
	done        atomic.Pointer[metrics.Report] // a copy of what Run returned
}

// New checks cfg and returns a runner for it.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ss, _ := Resolve(cfg.Suites)
	return newRunner(cfg, ss), nil
}

// newRunner lets tests drive suites that are not registered.
func newRunner(cfg Config, ss []Suite) *Runner {
	r := &Runner{cfg: cfg, suites: ss, controls: make(chan controlReq)}
	r.latest.Store(&metrics.Snapshot{Phase: metrics.PhaseStarting, Planned: r.planned(), At: time.Now()})
	return r
}

func (r *Runner) planned() time.Duration { return time.Duration(len(r.suites)) * r.cfg.Duration }

// Latest returns the most recent snapshot; never nil.
func (r *Runner) Latest() *metrics.Snapshot { return r.latest.Load() }

// ErrRunFailed wraps whatever made a run fail (the cluster would not start,
// a client panicked): the report is partial and the exit code is 3.
var ErrRunFailed = errors.New("run failed")

// Run starts the cluster, runs every suite for the configured duration and
// returns the report. When ctx ends first, the load stops, the cluster shuts
// down and the report covers what ran, marked interrupted. The error is
// non-nil (wrapping ErrRunFailed) only when the run itself failed; the
// report is still returned then.
func (r *Runner) Run(ctx context.Context) (*metrics.Report, error) {
	x := &run{Runner: r, started: time.Now(), evaluator: metrics.NewEvaluator(r.cfg.Baselines),
		clients: r.cfg.Clients, rate: r.cfg.Rate, dataSize: r.cfg.DataSize, epochChange: "start"}
	r.startedAt.Store(&x.started)
	x.script = append([]TimedAction(nil), r.cfg.At...)
	slices.SortStableFunc(x.script, func(a, b TimedAction) int { return cmp.Compare(a.At, b.At) })
	err := x.do(ctx)
	if err == nil {
		err = x.panicked()
	}
	report := x.finish(err)
	report.Settings = r.settings()
	report.StartedAt = x.started
	report.EndedAt = time.Now()
	report.Interrupted = ctx.Err() != nil
	if err != nil {
		report.Error = err.Error()
	}
	kept := *report // the caller may set fields of its own, such as Version
	r.done.Store(&kept)
	if err != nil {
		return report, fmt.Errorf("%w: %w", ErrRunFailed, err)
	}
	return report, nil
}

// Report is the report of the run so far, for saving or showing one
// before the run ends; any goroutine may call it, while Run goes on too.
// Until Run has returned, it is built from the latest snapshot and marked
// Partial, not Interrupted: nothing stopped the run, and a front end that
// maps Interrupted to an exit code must not see a live run as one. The
// current epoch is cut at the snapshot, and the baselines are judged on
// every op's figures so far, as Run's report judges them on the whole
// run. Once Run has returned, it is a copy of the report Run returned.
func (r *Runner) Report() *metrics.Report {
	if done := r.done.Load(); done != nil {
		cp := *done
		return &cp
	}
	last := r.Latest()
	s := *last
	partial := last.Phase != metrics.PhaseDone && last.Phase != metrics.PhaseFailed
	if partial && len(s.Ops) > 0 {
		cur := epochOf(len(s.Epochs)+1, s.EpochStart, s.Elapsed, s.EpochChange, s.Ops)
		s.Epochs = append(s.Epochs[:len(s.Epochs):len(s.Epochs)], cur)
	}
	var res metrics.Resources
	if sm := r.liveSampler.Load(); sm != nil {
		res = sm.Summary()
	}
	report := metrics.NewReport(&s, r.finalVerdicts(&s), res)
	report.Settings = r.settings()
	if t := r.startedAt.Load(); t != nil {
		report.StartedAt = *t
	}
	report.EndedAt = last.At
	report.Partial = partial
	report.Error = last.Err
	return report
}

// finalVerdicts judges a snapshot's whole-run figures against the
// baselines, the scalability sweep's efficiency included.
func (r *Runner) finalVerdicts(s *metrics.Snapshot) []metrics.Verdict {
	final := metrics.NewEvaluator(r.cfg.Baselines).Final(s.Ops)
	if s.Scalability != nil {
		if v, ok := s.Scalability.Verdict(r.cfg.Baselines.MinEfficiency); ok {
			final = append(final, v)
		}
	}
	return final
}

// Settings is the resolved configuration as a report records it.
type Settings struct {
	Profile       string   `json:"profile,omitempty"`
	Suites        []string `json:"suites"`
	Nodes         int      `json:"nodes"`
	Shards        int      `json:"shards"`
	NetDelayMs    float64  `json:"net_delay_ms"`
	Storage       string   `json:"storage"`
	Replicas      int      `json:"replicas"`
	Clients       int      `json:"clients"`
	DurationS     float64  `json:"duration_s"`
	DataSizeBytes int      `json:"data_size_bytes"`
	TickMs        float64  `json:"tick_ms"`
	WindowTicks   int      `json:"window_ticks"`
	Seed          int64    `json:"seed"`
	Transactions  int      `json:"transactions"`
	Queries       int      `json:"queries"`
	Baselines     struct {
		MaxAvgLatencyMs float64 `json:"max_avg_latency_ms,omitempty"`
		MaxP99LatencyMs float64 `json:"max_p99_latency_ms,omitempty"`
		MinOpsPerSec    float64 `json:"min_ops_per_sec,omitempty"`
		MinEfficiency   float64 `json:"min_scalability_efficiency,omitempty"`
		WarmUpS         float64 `json:"warm_up_s"`
	} `json:"baselines"`
}

func (r *Runner) settings() Settings {
	c := r.cfg
	s := Settings{Profile: c.Profile, Nodes: c.Nodes, Shards: c.shards(), NetDelayMs: float64(c.NetDelay) / float64(time.Millisecond), Storage: cmp.Or(c.Storage, core.StorageMemory), Replicas: c.replicas(), Clients: c.Clients, DurationS: c.Duration.Seconds(),
		DataSizeBytes: c.DataSize, TickMs: float64(c.Tick) / float64(time.Millisecond), WindowTicks: c.Window, Seed: c.Seed, Transactions: c.Transactions, Queries: c.Queries}
	for _, su := range r.suites {
		s.Suites = append(s.Suites, su.Name())
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	s.Baselines.MaxAvgLatencyMs = ms(c.Baselines.MaxAvgLatency)
	s.Baselines.MaxP99LatencyMs = ms(c.Baselines.MaxP99Latency)
	s.Baselines.MinOpsPerSec = c.Baselines.MinThroughput
	s.Baselines.MinEfficiency = c.Baselines.MinEfficiency
	s.Baselines.WarmUpS = c.Baselines.WarmUp.Seconds()
	return s
}

// run is the state of one Run call, owned by its goroutine.
type run struct {
	*Runner
	started     time.Time
	loadStart   time.Time
	cluster     *core.Cluster
	sampler     *metrics.Sampler
	collector   *metrics.Collector
	evaluator   *metrics.Evaluator
	seq         uint64
	suite       string
	running     map[string]time.Duration
	ops         []metrics.OpStats
	verdicts    []metrics.Verdict
	events      []metrics.Event
	leaders     map[int]string
	elected     map[int]core.Election // each shard's latest election record
	electionSeq uint64                // where the next read of the election log starts
	elapsed     time.Duration
	errText     string
	paused      bool // the running suite is paused: published in snapshots
	lastCluster metrics.Cluster
	scal        *metrics.Scalability
	pace        *pacer        // the running suite's schedule, nil in the closed loop
	cur         *suiteRun     // the running suite, nil between suites
	script      []TimedAction // scripted changes not yet run, by time
	clients     int           // clients now (live changes alter it)
	rate        float64       // open-loop rate now
	dataSize    int
	epochs      []metrics.Epoch
	epochStart  time.Duration
	epochChange string
	budget      int64 // memory budget in force
	keys        int   // keyspace the suites were given
	killNext    int   // the shard whose leader kill-leader kills next
	bg          sync.WaitGroup
	bgCtx       context.Context
	bgStop      context.CancelFunc
	pendingMu   sync.Mutex
	pending     []metrics.Event // from background changes, for the next tick
	lateBefore  uint64          // late iterations of the suites already run
	load        metrics.Load
}

func (x *run) do(ctx context.Context) error {
	budget := x.cfg.MemoryBudget
	if budget == 0 {
		budget = 4 << 30
		if v, err := mem.VirtualMemory(); err == nil {
			budget = min(budget, int64(v.Total/4))
		}
	}
	sz, err := x.cfg.size(budget)
	if err != nil {
		return err
	}
	x.budget, x.keys = budget, sz.keys
	x.bgCtx, x.bgStop = context.WithCancel(ctx)

	sctx, stopSampler := context.WithCancel(context.Background())
	x.sampler = metrics.NewSampler()
	x.liveSampler.Store(x.sampler)
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() { defer samplerDone.Done(); x.sampler.Run(sctx, x.cfg.Tick) }()
	defer func() { stopSampler(); samplerDone.Wait() }()

	ccfg := core.DefaultConfig()
	ccfg.Nodes = x.cfg.Nodes
	ccfg.Shards = x.cfg.Shards
	ccfg.Storage = cmp.Or(x.cfg.Storage, core.StorageMemory)
	ccfg.SnapshotThreshold = sz.snapshotThreshold
	ccfg.TrailingLogs = sz.trailingLogs
	ccfg.MaxAppendEntries = sz.maxAppendEntries
	ccfg.LogOutput = x.cfg.LogOutput
	x.publish(metrics.PhaseStarting)
	cluster, err := core.NewCluster(ctx, ccfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return fmt.Errorf("the cluster did not start: %w", err)
	}
	x.cluster = cluster
	x.event(metrics.EventInfo, fmt.Sprintf("cluster ready: %s, %s of %s", plural(x.cfg.Nodes, "node"), plural(cluster.Shards(), "shard"), plural(x.cfg.replicas(), "replica")))
	if d := x.cfg.NetDelay; d > 0 {
		if err := cluster.SetAllLinks(core.Link{Delay: d}); err != nil {
			return fmt.Errorf("cannot shape the network: %w", err)
		}
		x.event(metrics.EventInfo, fmt.Sprintf("network: %v one-way delay on every link", d))
	}

	var specs []metrics.OpSpec
	for _, s := range x.suites {
		specs = append(specs, s.Ops()...)
	}
	x.loadStart = time.Now()
	x.collector, err = metrics.NewCollector(specs, x.cfg.Window, x.loadStart)
	if err != nil {
		return err
	}
	if x.cfg.Rate > 0 {
		x.collector.OpenLoop()
	}
	x.running = map[string]time.Duration{}
	first := 0
	for _, s := range x.suites {
		n := len(s.Ops())
		if ctx.Err() == nil {
			env := Env{Cluster: cluster, Nodes: x.cfg.Nodes, Replicas: x.cfg.replicas(), DataSize: x.dataSize, Keys: sz.keys, Seed: x.cfg.Seed,
				Transactions: x.cfg.Transactions, Queries: x.cfg.Queries, KeyDist: x.cfg.KeyDist,
				Clients: x.clients, Duration: x.cfg.Duration}
			if err := x.runSuite(ctx, s, env, first, n); err != nil {
				return err
			}
		}
		first += n
	}
	return nil
}

// suiteRun is the state of the suite that is running: its clients, its
// schedule and its clock, which live changes act on.
type suiteRun struct {
	x       *run
	w       Workload
	first   int
	n       int
	lctx    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	pace    *pacer
	begun   time.Time
	clients []context.CancelFunc // one per client, in id order
	nextID  int

	duration time.Duration // may change live
	end      *time.Timer
	pausedAt time.Time // zero when not paused
	paused   time.Duration
	gate     atomic.Pointer[chan struct{}] // non-nil while paused: closed on resume
}

// runSuite runs one suite's clients for the configured duration, ticking
// and applying live changes as they come.
func (x *run) runSuite(ctx context.Context, s Suite, env Env, first, n int) error {
	sr := &suiteRun{x: x, first: first, n: n, duration: x.cfg.Duration}
	sr.lctx, sr.stop = context.WithCancel(ctx)
	defer sr.stop()
	env.End = sr.finish
	w, err := s.Prepare(ctx, env)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("suite %s could not start: %w", s.Name(), err)
	}
	sr.w, sr.begun = w, time.Now()
	x.suite = s.Name()
	x.event(metrics.EventInfo, fmt.Sprintf("suite %s started: %s for %v", s.Name(), plural(x.clients, "client"), x.cfg.Duration))

	x.collector.Activate(first, n)
	sr.pace = newPacer(x.rate, x.clients, sr.begun)
	x.pace = sr.pace
	for range x.clients {
		sr.addClient(sr.begun)
	}
	if p, ok := w.(Prober); ok {
		rec := x.collector.NewRecorder(first, n)
		sr.wg.Add(1)
		go func() {
			defer sr.wg.Done()
			defer rec.Close()
			defer x.recoverClient(sr.stop)
			p.Probe(sr.lctx, rec)
		}()
	}
	x.cur = sr
	defer func() { x.cur = nil }()
	open := make(chan struct{})
	x.accepting.Store(&open)
	defer func() { x.accepting.Store(nil); close(open) }()

	ticker := time.NewTicker(x.cfg.Tick)
	defer ticker.Stop()
	sr.end = time.NewTimer(sr.duration)
	defer sr.end.Stop()
	script := time.NewTimer(x.untilNextScripted())
	defer script.Stop()
	// Clients stop when lctx ends: at the end of the duration, when ctx is
	// cancelled, or when a client panics. Ticks go on while the last ops
	// drain, so nothing they record is lost.
	for {
		select {
		case <-sr.end.C:
			sr.finish()
		case now := <-ticker.C:
			if sr.lctx.Err() == nil && sr.pausedAt.IsZero() {
				x.running[x.suite] = now.Sub(sr.begun) - sr.paused
			} else {
				delete(x.running, x.suite) // draining or paused: fewer ops is no violation
			}
			x.tick(now, metrics.PhaseRunning)
		case req := <-x.controls:
			req.done <- x.apply(sr, req.action)
			continue
		case <-script.C:
			x.runScripted(sr)
			script.Reset(x.untilNextScripted())
			continue
		}
		if sr.lctx.Err() != nil {
			break
		}
	}
	sr.resume() // let paused clients see the end
	sr.wg.Wait()
	x.tick(time.Now(), metrics.PhaseRunning) // harvest the drained clients
	x.collector.Deactivate(first, n)
	if c, ok := w.(Checker); ok {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.Check(cctx)
		cancel()
		if err != nil {
			x.event(metrics.EventError, fmt.Sprintf("suite %s: %v", s.Name(), err))
			return fmt.Errorf("suite %s: %w", s.Name(), err)
		}
		x.event(metrics.EventInfo, fmt.Sprintf("suite %s: invariant holds", s.Name()))
	}
	if sc, ok := w.(Scaler); ok {
		x.scal = metrics.NewScalability(s.Name(), sc.Scalability())
		if x.scal.Fit != nil {
			x.event(metrics.EventInfo, fmt.Sprintf("suite %s: USL fit σ=%.4f κ=%.5f R²=%.3f", s.Name(), x.scal.Fit.Sigma, x.scal.Fit.Kappa, x.scal.Fit.R2))
		} else {
			x.event(metrics.EventInfo, fmt.Sprintf("suite %s: no USL fit: %s", s.Name(), x.scal.FitError))
		}
	}
	if x.pace != nil {
		x.loadView()
		x.lateBefore = x.load.Late
		x.pace = nil
	}
	delete(x.running, x.suite)
	x.event(metrics.EventInfo, fmt.Sprintf("suite %s finished", s.Name()))
	return nil
}

// finish ends the suite's load; the clients drain.
func (sr *suiteRun) finish() { sr.stop() }

// addClient starts one more load client; its schedule, in the open loop,
// starts from from.
func (sr *suiteRun) addClient(from time.Time) {
	x := sr.x
	id := sr.nextID
	sr.nextID++
	cctx, cancel := context.WithCancel(sr.lctx)
	sr.clients = append(sr.clients, cancel)
	rec := x.collector.NewRecorder(sr.first, sr.n)
	c := sr.w.Client(id)
	var sched *schedule
	if sr.pace != nil {
		sched = sr.pace.schedule(id, from)
	}
	sr.wg.Add(1)
	go func() {
		defer sr.wg.Done()
		defer rec.Close()
		defer x.recoverClient(sr.stop)
		if sched != nil {
			defer sched.stop()
		}
		for cctx.Err() == nil {
			if g := sr.gate.Load(); g != nil {
				select {
				case <-*g:
				case <-cctx.Done():
					return
				}
			}
			if sched != nil {
				lag, ok := sched.wait(cctx)
				if !ok {
					return
				}
				rec.SetLag(lag)
			}
			c.Do(cctx, rec)
		}
	}()
}

// setClients grows or shrinks the running clients to n; removed clients
// finish the op they are in.
func (sr *suiteRun) setClients(n int) {
	if sr.pace != nil {
		sr.pace.clients.Store(int64(n))
	}
	for len(sr.clients) < n {
		sr.addClient(time.Now())
	}
	for len(sr.clients) > n {
		last := len(sr.clients) - 1
		sr.clients[last]()
		sr.clients = sr.clients[:last]
	}
}

// pause holds every client before its next iteration and stops the
// suite's clocks, so rates and the duration count only load time.
func (sr *suiteRun) pause() bool {
	if !sr.pausedAt.IsZero() {
		return false
	}
	g := make(chan struct{})
	sr.gate.Store(&g)
	sr.pausedAt = time.Now()
	sr.x.paused = true
	sr.end.Stop()
	sr.x.collector.Deactivate(sr.first, sr.n)
	return true
}

// resume lets the clients go on, shifting the open loop's schedule by the
// pause so that it does not burst.
func (sr *suiteRun) resume() bool {
	if sr.pausedAt.IsZero() {
		return false
	}
	d := time.Since(sr.pausedAt)
	sr.paused += d
	if sr.pace != nil {
		sr.pace.shiftNs.Add(int64(d))
	}
	sr.pausedAt = time.Time{}
	sr.x.paused = false
	g := sr.gate.Swap(nil)
	close(*g)
	sr.x.collector.Activate(sr.first, sr.n)
	sr.resetEnd()
	return true
}

// resetEnd re-arms the end of the suite for its duration, counting only
// unpaused time.
func (sr *suiteRun) resetEnd() {
	sr.end.Stop()
	left := sr.duration - (time.Since(sr.begun) - sr.paused)
	sr.end.Reset(max(left, 0))
}

// recoverClient turns a panic in a load client into a failed run instead
// of a crash that would leave the terminal in raw mode.
func (x *run) recoverClient(stop context.CancelFunc) {
	if v := recover(); v != nil {
		err := fmt.Errorf("a load client panicked: %v", v)
		x.failed.CompareAndSwap(nil, &err)
		stop()
	}
}

func (x *run) panicked() error {
	if p := x.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// tick harvests the recorders, judges the window and publishes a snapshot.
func (x *run) tick(now time.Time, phase metrics.Phase) {
	x.ops = x.collector.Tick(now)
	x.elapsed = now.Sub(x.loadStart)
	x.pendingMu.Lock()
	for _, e := range x.pending {
		e.At = x.elapsed
		x.events = append(x.events, e)
	}
	x.pending = x.pending[:0]
	x.pendingMu.Unlock()
	verdicts, events := x.evaluator.Window(x.ops, x.running, x.elapsed)
	x.verdicts = verdicts
	x.events = append(x.events, events...)
	x.publish(phase)
}

func (x *run) event(kind metrics.EventKind, msg string) {
	x.events = append(x.events, metrics.Event{At: x.elapsed, Kind: kind, Message: msg})
}

// publish makes a new immutable snapshot current.
func (x *run) publish(phase metrics.Phase) *metrics.Snapshot {
	x.seq++
	s := &metrics.Snapshot{
		Seq: x.seq, At: time.Now(), Elapsed: x.elapsed, Planned: x.planned(), Phase: phase, Suite: x.suite, Paused: x.paused,
		Ops: x.ops, Verdicts: x.verdicts, Err: x.errText, Load: x.loadView(),
		Epochs: x.epochs[:len(x.epochs):len(x.epochs)], EpochStart: x.epochStart, EpochChange: x.epochChange, Scalability: x.scal,
	}
	if x.sampler != nil {
		s.System = x.sampler.Latest()
	}
	if x.cluster != nil {
		x.lastCluster = x.clusterView()
	}
	s.Cluster = x.lastCluster // after shutdown, the cluster as it last was
	// Events are only ever appended, so a snapshot may share the backing
	// array: later appends write past its length.
	s.Events = x.events[:len(x.events):len(x.events)]
	x.latest.Store(s)
	if x.cfg.OnSnapshot != nil {
		x.cfg.OnSnapshot(s)
	}
	return s
}

func (x *run) clusterView() metrics.Cluster {
	st := x.cluster.Status()
	v := metrics.Cluster{LeaderChanges: st.LeaderChanges}
	for _, n := range st.Nodes {
		v.Nodes = append(v.Nodes, metrics.Node{ID: n.ID, Up: n.Up, Replicas: n.Replicas, Leaderships: n.Leaderships,
			State: n.State, Partitioned: n.Partitioned})
	}
	if x.leaders == nil {
		x.leaders = map[int]string{}
		x.elected = map[int]core.Election{}
	}
	// The core's election log says how long each shard went without a
	// leader; keep each shard's latest record for the change the status
	// poll sees, which may come a tick before or after it.
	var elections []core.Election
	elections, x.electionSeq = x.cluster.Elections(x.electionSeq)
	for _, e := range elections {
		x.elected[e.Shard] = e
	}
	for _, sh := range st.Shards {
		var minApplied uint64
		var commit uint64
		for i, rep := range sh.Replicas {
			if rep.State == "shutdown" {
				continue
			}
			commit = max(commit, rep.CommitIndex)
			if i == 0 || rep.AppliedIndex < minApplied {
				minApplied = rep.AppliedIndex
			}
		}
		lag := uint64(0)
		if commit > minApplied {
			lag = commit - minApplied
		}
		v.Shards = append(v.Shards, metrics.Shard{ID: sh.ID, Leader: sh.Leader, Term: sh.Term, CommitIndex: commit, MaxLag: lag})
		if prev, ok := x.leaders[sh.ID]; ok && prev != sh.Leader && sh.Leader != "" {
			x.event(metrics.EventElection, leaderChange(sh, x.elected[sh.ID]))
		}
		if sh.Leader != "" {
			x.leaders[sh.ID] = sh.Leader
		}
	}
	return v
}

// leaderChange describes shard sh's new leader, with how long the shard
// went without one when e, the shard's latest election record, is of this
// change.
func leaderChange(sh core.ShardStatus, e core.Election) string {
	if e.To == sh.Leader && e.Term == sh.Term && e.Took > 0 {
		took := e.Took.Round(time.Millisecond) // "94ms", as a person says it
		if e.Took < time.Millisecond {
			took = e.Took.Round(time.Microsecond)
		}
		return fmt.Sprintf("shard %d leader → %s in %v (term %d)", sh.ID, sh.Leader, took, sh.Term)
	}
	return fmt.Sprintf("shard %d leader → %s (term %d)", sh.ID, sh.Leader, sh.Term)
}

// finish shuts the cluster down and builds the report from the last
// snapshot; err is why the run failed, if it did.
func (x *run) finish(err error) *metrics.Report {
	if x.bgStop != nil {
		x.bgStop() // background changes give up, and the cluster waits for them
		x.bg.Wait()
	}
	if x.cluster != nil {
		x.publish(metrics.PhaseStopping)
		x.cluster.Close()
		x.cluster = nil
	}
	if len(x.ops) > 0 {
		x.closeEpoch()
	}
	phase := metrics.PhaseDone
	if err != nil {
		phase = metrics.PhaseFailed
		x.errText = err.Error()
		x.event(metrics.EventError, "run failed: "+err.Error())
	}
	last := x.publish(phase)
	var res metrics.Resources
	if x.sampler != nil {
		res = x.sampler.Summary()
	}
	return metrics.NewReport(last, x.finalVerdicts(last), res)
}

// loadView sums the schedule's state for a snapshot; late and the worst
// lag accumulate over the run's suites.
func (x *run) loadView() metrics.Load {
	x.load.TargetRate = x.rate
	x.load.Lag = 0
	if x.pace != nil {
		late, lag, worst := x.pace.state()
		x.load.Late = x.lateBefore + late
		x.load.Lag = lag
		x.load.MaxLag = max(x.load.MaxLag, worst)
	}
	return x.load
}

// plural is n and noun, with an s unless n is 1: "1 node", "3 nodes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

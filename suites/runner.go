package suites

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/mem"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Runner drives the chosen suites against a database (an embedded cluster
// it starts), one suite after another, and publishes a Snapshot every tick.
type Runner struct {
	cfg    Config
	suites []Suite
	// open starts the database the run drives, as cfg describes it; an
	// embedded cluster unless a test or another cluster mode says
	// otherwise.
	open func(ctx context.Context, cfg core.Config) (DB, error)
	// procs are the node processes the run's clusters started, in
	// processes or join mode.
	procs nodeProcs

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
	r := newRunner(cfg, ss)
	r.open = r.opener()
	return r, nil
}

// newRunner lets tests drive suites that are not registered.
func newRunner(cfg Config, ss []Suite) *Runner {
	r := &Runner{cfg: cfg, suites: ss, open: openEmbedded, controls: make(chan controlReq)}
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
		load:   loadTracker{clients: r.cfg.Clients, rate: r.cfg.Rate, dataSize: r.cfg.DataSize},
		epochs: epochBook{change: "start"}, script: newScript(r.cfg.At), flights: newFlights(),
		nem: newNemesis(r.cfg.Nemesis, r.cfg.Seed)}
	r.startedAt.Store(&x.started)
	err := x.do(ctx)
	if err == nil {
		err = x.panicked()
	}
	report := x.finish(err)
	r.procs.close() // the clusters are closed: their groups are empty
	report.Settings = r.settings()
	r.describeCluster(report)
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
	r.describeCluster(report)
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
	Profile    string   `json:"profile,omitempty"`
	Suites     []string `json:"suites"`
	Nodes      int      `json:"nodes"`
	Shards     int      `json:"shards"`
	NetDelayMs float64  `json:"net_delay_ms"`
	Storage    string   `json:"storage"`
	Cluster    string   `json:"cluster"`
	// NodeCPUs is each node process's CPU quota (--node-cpus); absent
	// when the nodes ran without one.
	NodeCPUs      float64 `json:"node_cpus,omitempty"`
	Replicas      int     `json:"replicas"`
	Clients       int     `json:"clients"`
	DurationS     float64 `json:"duration_s"`
	DataSizeBytes int     `json:"data_size_bytes"`
	TickMs        float64 `json:"tick_ms"`
	WindowTicks   int     `json:"window_ticks"`
	Seed          int64   `json:"seed"`
	Transactions  int     `json:"transactions"`
	Queries       int     `json:"queries"`
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
	s := Settings{Profile: c.Profile, Nodes: c.Nodes, Shards: c.shards(), NetDelayMs: float64(c.NetDelay) / float64(time.Millisecond), Storage: cmp.Or(c.Storage, core.StorageMemory), Cluster: clusterSetting(c.Cluster), NodeCPUs: c.NodeCPUs, Replicas: c.Replicas(), Clients: c.Clients, DurationS: c.Duration.Seconds(),
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

// run is the state of one Run call. Its goroutine owns every field; the
// parts that other goroutines reach (the event queue, the pacer, the
// background changes) say how in their own comments.
type run struct {
	*Runner
	started   time.Time
	loadStart time.Time
	db        DB // nil before the database opens and once it has shut down
	budget    int64
	keys      int // keyspace the suites were given
	sampler   *metrics.Sampler
	sysSeries *metrics.SystemSeries // the sampler's gauges over the load, for the reports' charts
	collector *metrics.Collector
	evaluator *metrics.Evaluator
	diag      *metrics.Diagnoser // names the bottleneck each tick

	// The figures the next snapshot shows.
	seq      uint64
	suite    string                   // the suite running, or the last one
	running  map[string]time.Duration // each running suite's load time, for the evaluator
	elapsed  time.Duration
	ops      []metrics.OpStats
	verdicts []metrics.Verdict
	scal     *metrics.Scalability
	checks   []metrics.Check // appended to only: snapshots share it
	errText  string

	events eventLog
	epochs epochBook
	watch  clusterWatch
	load   loadTracker
	// flights are the running clients' iterations, read every tick.
	flights  *flights
	inFlight metrics.InFlight   // as the last tick read them
	ends     []metrics.SuiteEnd // what each finished suite left in flight

	faults   shardFaults   // serialises the faults on each shard
	netDelay time.Duration // the one-way delay on every link now
	nem      *nemesis      // random faults; nil without

	script   script // scripted changes not yet run, by time
	killNext int    // the shard whose leader kill-leader kills next
	bg       background

	// targetNodes is the size the cluster should have between suites:
	// the configured one, or the last nodes= change. resizing counts the
	// nodes= changes running in the background, which settle leaves be.
	targetNodes int
	resizing    atomic.Int32

	// ticks are the load's ticks while its loop runs, for blocking.
	ticks <-chan time.Time

	// lastUse is the nodes' use at the last tick with the database open.
	lastUse map[string]nodeUse

	// errorsTold are the error kinds announceErrors has told of, by op.
	errorsTold map[string]map[string]bool

	// restarting holds the nodes whose restart runs in the background, so
	// that a second restart at the same moment does not take them again.
	restarting nodeSet

	// causes is what the run did to the cluster, and elections the
	// elections counted against it: caused or spontaneous.
	causes    *causeBook
	elections electionCount
	fresh     freshElections // fresh clusters' elections, for counting

	ccfg     core.Config // the cluster's configuration, for fresh clusters of other sizes
	cpuTrace []cpuSample // the machine's CPU each tick of the running suite
}

// cpuSample is the machine's CPU busy at one tick.
type cpuSample struct {
	at  time.Time
	cpu float64
}

// openFresh starts a fresh cluster like the run's, of nodes and shards,
// for the scalability suite's node sweep.
// It is sized by the run's own sizing rule for budget: its keyspace and
// its logs between snapshots fit in it, next to the run's cluster.
func (x *run) openFresh(ctx context.Context, nodes, shards int, budget int64) (DB, int, error) {
	cfg := x.cfg
	cfg.Nodes, cfg.Shards = nodes, shards
	sz, err := cfg.size(budget)
	if err != nil {
		return nil, 0, err
	}
	c := x.ccfg
	c.Nodes, c.Shards = nodes, shards
	c.SnapshotThreshold, c.TrailingLogs, c.MaxAppendEntries = sz.snapshotThreshold, sz.trailingLogs, sz.maxAppendEntries
	c.SnapshotInterval = cmp.Or(sz.snapshotInterval, c.SnapshotInterval)
	db, err := x.open(ctx, c)
	if err == nil {
		x.procs.opened(db)
	}
	return db, sz.keys, err
}

// stepCPU fills in p's machine CPU, when the step did not read it at its
// bounds (see cpuMark), as the average of the running suite's ticks over
// its measured time; 0 when no tick fell in it.
func (x *run) stepCPU(p *metrics.ScalePoint) {
	if p.CPU > 0 {
		return
	}
	var sum float64
	var n int
	for _, s := range x.cpuTrace {
		if !s.at.Before(p.From) && !s.at.After(p.To) {
			sum += s.cpu
			n++
		}
	}
	if n > 0 {
		p.CPU = sum / float64(n)
	}
}

// do opens the database and runs every suite on it; finish shuts it down.
func (x *run) do(ctx context.Context) error {
	x.budget = x.memoryBudget()
	// The runtime collects as the heap nears the budget, not only at twice
	// the live data; the previous limit comes back when the run ends.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(x.budget))
	defer startGCPacer(x.budget)()
	x.diag = metrics.NewDiagnoser(x.budget, x.cfg.Storage == core.StorageDisk)
	if m, err := ParseClusterMode(x.cfg.Cluster); err == nil {
		x.diag.OnLoopback(m.Local())
	}
	sz, err := x.cfg.size(x.budget)
	if err != nil {
		return err
	}
	x.keys = sz.keys
	x.bg.start(ctx)
	stopSampler := x.startSampler()
	defer stopSampler()
	x.causes = &causeBook{}
	endStart := x.causes.begin("cluster start", nil) // first elections and start-up balancing
	err = x.openDB(ctx, sz)
	endStart()
	if err != nil || x.db == nil {
		return err // x.db is nil without an error when ctx ended while it opened
	}
	if err := x.startCollector(); err != nil {
		return err
	}
	x.running = map[string]time.Duration{}
	x.targetNodes = x.cfg.Nodes
	first := 0
	for _, s := range x.suites {
		n := len(s.Ops())
		if ctx.Err() == nil {
			x.settle(ctx, "suite "+s.Name())
		}
		if ctx.Err() == nil {
			if err := x.runSuite(ctx, s, x.env(), first, n); err != nil {
				return err
			}
		}
		first += n
	}
	if ctx.Err() == nil && len(x.db.Status().Nodes) != x.targetNodes {
		// The last suite's churn left a node: the report's cluster is
		// the configured one.
		x.settle(ctx, "the end of the run")
	}
	return nil
}

// memoryBudget is the budget the run fits in: the configured one, or a
// quarter of the machine's memory, at most 4 GiB.
func (x *run) memoryBudget() int64 {
	if x.cfg.MemoryBudget != 0 {
		return x.cfg.MemoryBudget
	}
	budget := int64(4 << 30)
	if v, err := mem.VirtualMemory(); err == nil {
		budget = min(budget, int64(v.Total/4))
	}
	return budget
}

// startSampler starts sampling the system every tick and returns what
// stops it.
func (x *run) startSampler() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	x.sampler = metrics.NewSampler()
	x.liveSampler.Store(x.sampler)
	var done sync.WaitGroup
	done.Add(1)
	go func() { defer done.Done(); x.sampler.Run(ctx, x.cfg.Tick) }()
	return func() { cancel(); done.Wait() }
}

// openDB opens the database sized by sz and shapes its network. When ctx
// ends while it opens, x.db stays nil and the error is nil: the run was
// interrupted, it did not fail.
func (x *run) openDB(ctx context.Context, sz sizing) error {
	ccfg := core.DefaultConfig()
	ccfg.Nodes = x.cfg.Nodes
	ccfg.Shards = x.cfg.Shards
	ccfg.Storage = cmp.Or(x.cfg.Storage, core.StorageMemory)
	ccfg.SnapshotThreshold = sz.snapshotThreshold
	ccfg.TrailingLogs = sz.trailingLogs
	ccfg.MaxAppendEntries = sz.maxAppendEntries
	ccfg.SnapshotInterval = cmp.Or(sz.snapshotInterval, ccfg.SnapshotInterval)
	ccfg.LogOutput = x.cfg.LogOutput
	ccfg.OpTimeout = x.cfg.OpTimeout // the one deadline: core gives up a call at it
	ccfg.NetDelay = x.cfg.NetDelay   // shaped from the start, raft's timeouts grown for it
	ccfg.EntryBytes = x.cfg.DataSize // raft's timeouts grown for the values' copies
	x.ccfg = ccfg
	x.publish(metrics.PhaseStarting)
	db, err := x.open(ctx, ccfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the cluster did not start: %w", err)
	}
	x.db = db
	x.procs.opened(db)
	x.epochs.timeouts = x.raftTimeouts()
	x.event(metrics.EventInfo, fmt.Sprintf("cluster ready: %s, %s of %s", plural(x.cfg.Nodes, "node"), plural(db.Shards(), "shard"), plural(x.cfg.Replicas(), "replica")))
	if d := x.cfg.NetDelay; d > 0 {
		x.netDelay = d
		t := x.epochs.timeouts
		x.event(metrics.EventInfo, fmt.Sprintf("network: %v one-way delay on every link; raft heartbeat timeout %v, election %v", d, t.Heartbeat, t.Election))
	}
	return nil
}

// raftTimeouts are the Raft timeouts in force now, for the epochs: they
// grow with the network's round trip, so an epoch with a delay says which
// timeouts its figures ran under.
func (x *run) raftTimeouts() metrics.RaftTimeouts {
	st := x.db.Status()
	return metrics.RaftTimeouts{Heartbeat: st.HeartbeatTimeout, Election: st.ElectionTimeout}
}

// startCollector starts the load's clock and the collector of every
// suite's ops.
func (x *run) startCollector() error {
	var specs []metrics.OpSpec
	for _, s := range x.suites {
		specs = append(specs, s.Ops()...)
	}
	x.loadStart = time.Now()
	var err error
	if x.collector, err = metrics.NewCollector(specs, x.cfg.Window, x.loadStart); err != nil {
		return err
	}
	if x.cfg.Rate > 0 {
		x.collector.OpenLoop()
	}
	x.collector.SetSeriesStep(metrics.SeriesStep(x.cfg.Duration, x.cfg.Tick))
	x.sysSeries = metrics.NewSystemSeries(metrics.SeriesStep(x.planned(), x.cfg.Tick))
	x.procs.startSeries(x.loadStart, metrics.SeriesStep(x.planned(), x.cfg.Tick))
	return nil
}

// env is what the next suite gets, with the load as it stands now.
func (x *run) env() Env {
	return Env{DB: guardedDB{DB: x.db, faults: &x.faults, events: &x.events, causes: x.causes}, Nodes: x.cfg.Nodes, Replicas: x.cfg.Replicas(), DataSize: x.load.dataSize, Keys: x.keys, Seed: x.cfg.Seed,
		Transactions: x.cfg.Transactions, Queries: x.cfg.Queries, KeyDist: x.cfg.KeyDist,
		Clients: x.load.clients, Duration: x.cfg.Duration, Open: x.openFresh, Shards: x.db.Shards(),
		Budget: x.budget, FreshElections: x.fresh.add, Note: func(m string) { x.events.later(metrics.EventInfo, m) }, NodeCPUs: x.nodeCPUs(),
		mark: x.procs.mark}
}

// runSuite runs one suite's clients for the configured duration, ticking
// and applying live changes as they come, then drains and checks it.
// Control takes changes from the suite's start to its end, drain included.
func (x *run) runSuite(ctx context.Context, s Suite, env Env, first, n int) error {
	sr, err := x.startSuite(ctx, s, env, first, n)
	if sr == nil {
		return err
	}
	defer sr.stop()
	open := make(chan struct{})
	x.accepting.Store(&open)
	defer func() { x.accepting.Store(nil); close(open) }()
	x.loop(sr)
	return x.endSuite(sr)
}

// primaryOp is the index of the first primary op among ops, or 0.
func primaryOp(ops []metrics.OpSpec) int {
	for i, o := range ops {
		if o.Primary {
			return i
		}
	}
	return 0
}

// startSuite prepares s and starts its clients and probe. It returns nil
// when the suite did not start, with an error unless ctx had ended.
func (x *run) startSuite(ctx context.Context, s Suite, env Env, first, n int) (*suiteRun, error) {
	sr := &suiteRun{x: x, suite: s, first: first, n: n, duration: x.cfg.Duration, primary: primaryOp(s.Ops())}
	sr.lctx, sr.stop = context.WithCancel(ctx)
	env.End = sr.finish
	w, err := s.Prepare(ctx, env)
	if err != nil {
		sr.stop()
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("suite %s could not start: %w", s.Name(), err)
	}
	sr.w, sr.begun = w, time.Now()
	x.cpuTrace = x.cpuTrace[:0]
	x.suite = s.Name()
	x.elections.suites = append(x.elections.suites, suiteElections{name: s.Name(), from: sr.begun})
	x.event(metrics.EventInfo, fmt.Sprintf("suite %s started: %s for %v", s.Name(), plural(x.load.clients, "client"), x.cfg.Duration))
	if x.nem != nil {
		x.event(metrics.EventInfo, "nemesis on: random "+strings.Join(x.nem.faults, ", ")+" every few seconds, each undone before the next")
	}
	x.collector.Activate(first, n)
	x.load.startPace(sr.begun)
	for range x.load.clients {
		sr.addClient(sr.begun)
	}
	if p, ok := w.(Prober); ok {
		sr.startProbe(p)
	}
	return sr, nil
}

// loop ticks, takes live changes and runs scripted ones until the suite's
// load ends: at the end of its duration, when the run's context ends, or
// when a client panics (each of which ends sr.lctx).
func (x *run) loop(sr *suiteRun) {
	ticker := time.NewTicker(x.cfg.Tick)
	defer ticker.Stop()
	x.ticks = ticker.C
	defer func() { x.ticks = nil }()
	sr.end = time.NewTimer(sr.duration)
	script := time.NewTimer(x.script.wait(x.loadStart))
	defer script.Stop()
	x.nem.arm()
	defer x.calmNemesis(sr)
	for {
		select {
		case <-sr.end.C:
			// A late tick can find the end and a scripted action both
			// due; select picks either, and the action's time came
			// first, so it runs before the end rather than never.
			select {
			case <-script.C:
				x.runScripted(sr)
				script.Reset(x.script.wait(x.loadStart))
			default:
			}
			sr.finish()
		case now := <-ticker.C:
			x.loadTick(sr, now)
		case req := <-x.controls:
			req.done <- x.apply(sr, req.action)
			continue
		case <-script.C:
			x.runScripted(sr)
			script.Reset(x.script.wait(x.loadStart))
			continue
		case <-x.nem.c():
			if sr.lctx.Err() == nil && sr.pausedAt.IsZero() {
				x.nemesisStep(sr)
			} else {
				x.nem.arm() // paused: no faults on a held load
			}
			continue
		}
		if sr.lctx.Err() != nil {
			return
		}
	}
}

// loadTick is a tick of sr's load.
func (x *run) loadTick(sr *suiteRun, now time.Time) {
	if sr.lctx.Err() == nil && sr.pausedAt.IsZero() {
		x.running[x.suite] = sr.loadTime(now)
	} else {
		delete(x.running, x.suite) // draining or paused: fewer ops is no violation
	}
	x.tick(now, metrics.PhaseRunning)
}

// blocking runs call, a call into the database that may wait for the
// cluster, on a goroutine of its own, and goes on ticking sr's load while
// it waits. The cluster's changes take turns: a crash or a new network
// delay waits for a node's restart or a node joining in the background to
// finish, which in processes mode took 3.3 s, and the runner's goroutine
// waiting with it froze the progress line, the TUI and the baselines that
// long. The suite's load ends on time meanwhile; the change still takes
// effect, after it. call must touch nothing but the database: the runner's
// state is the ticks' meanwhile. The wait is call's own: the core's lock
// is held by changes that give up with the run's context or at their op
// timeout; while it lasts the ticks go on, and the change's epoch and
// event come when it returns.
func (x *run) blocking(sr *suiteRun, call func() error) error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	var end <-chan time.Time
	if x.ticks != nil && sr.end != nil {
		end = sr.end.C
	}
	for {
		select {
		case err := <-done:
			return err
		case now := <-x.ticks: // nil outside the load's loop: no ticks
			x.loadTick(sr, now)
		case <-end:
			// The load's measured time ends here, as endSuite would end
			// it: ticks until the change is done count no more of it.
			sr.finish()
			x.loadTick(sr, time.Now())
			x.collector.Deactivate(sr.first, sr.n)
			end = nil
		}
	}
}

// endSuite waits for the suite's clients to drain, harvests what they
// recorded, and runs the workload's check and scalability fit.
func (x *run) endSuite(sr *suiteRun) error {
	sr.resume() // let paused clients see the end
	sr.end.Stop()
	// The suite's measured span ends now: waiting for its clients to
	// drain is no time its ops had to run in, however long a loaded
	// machine makes it. Ops that finish during the drain still count.
	x.tick(time.Now(), metrics.PhaseRunning)
	x.collector.Deactivate(sr.first, sr.n)
	sr.wg.Wait()
	x.tick(time.Now(), metrics.PhaseRunning) // harvest the drained clients
	x.elections.suites[len(x.elections.suites)-1].to = time.Now()
	name := sr.suite.Name()
	// The iterations the end cut short are in no figure: say so.
	cut := sr.cut.view()
	x.ends = append(x.ends, metrics.SuiteEnd{Suite: name, InFlight: cut})
	if cut.Waiting > 0 {
		x.event(metrics.EventError, fmt.Sprintf("suite %s ended with %s in flight, the oldest for %v: cut short, in no figure",
			name, plural(cut.Ops, "iteration"), cut.Oldest.Round(time.Millisecond)))
	}
	if c, ok := sr.w.(Checker); ok {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		x.addChecks(c.Check(cctx, x.cfg.CheckDir))
		cancel()
	}
	if sw, ok := sr.w.(sweeper); ok {
		sweeps := sw.Sweeps()
		for i := range sweeps {
			for j := range sweeps[i].Points {
				x.stepCPU(&sweeps[i].Points[j])
			}
		}
		x.scal = metrics.NewScalabilitySweeps(name, sweeps, runtime.NumCPU())
		for _, s := range x.scal.Sweeps {
			if s.Bound != "" {
				x.event(metrics.EventInfo, fmt.Sprintf("suite %s, %s sweep: %s", name, s.Kind, s.Bound))
			}
		}
		if x.scal.Fit != nil {
			x.event(metrics.EventInfo, fmt.Sprintf("suite %s: USL fit σ=%.4f κ=%.5f R²=%.3f", name, x.scal.Fit.Sigma, x.scal.Fit.Kappa, x.scal.Fit.R2))
		} else {
			x.event(metrics.EventInfo, fmt.Sprintf("suite %s: no USL fit: %s", name, x.scal.FitError))
		}
	} else if sc, ok := sr.w.(Scaler); ok {
		x.scal = metrics.NewScalability(name, sc.Scalability())
		if x.scal.Fit != nil {
			x.event(metrics.EventInfo, fmt.Sprintf("suite %s: USL fit σ=%.4f κ=%.5f R²=%.3f", name, x.scal.Fit.Sigma, x.scal.Fit.Kappa, x.scal.Fit.R2))
		} else {
			x.event(metrics.EventInfo, fmt.Sprintf("suite %s: no USL fit: %s", name, x.scal.FitError))
		}
	}
	x.load.stopPace()
	delete(x.running, x.suite)
	x.event(metrics.EventInfo, fmt.Sprintf("suite %s finished", name))
	return nil
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
	if x.sampler != nil && phase == metrics.PhaseRunning {
		if c := x.sampler.Latest().CPU; c.OK {
			// Stamped when read, not when the tick was due: a runner that
			// lags its ticker (a busy machine) would put what it reads now
			// into a step that has already ended.
			x.cpuTrace = append(x.cpuTrace, cpuSample{at: time.Now(), cpu: c.Value})
		}
		if x.sysSeries != nil {
			x.sysSeries.Add(now.Sub(x.loadStart), x.sampler.Latest())
		}
	}
	x.inFlight = x.flights.check(now, x.cfg.OpTimeout)
	x.ops = x.collector.Tick(now)
	x.elapsed = now.Sub(x.loadStart)
	x.events.flush(x.elapsed)
	x.announceErrors()
	verdicts, events := x.evaluator.Window(x.ops, x.running, x.elapsed)
	x.verdicts = verdicts
	x.events.add(events...)
	x.publish(phase)
}

// announceErrors tells, in an event, of each op's first error of each kind
// as the collector kept its text (OpStats.ErrorSamples): the TUI's event
// log then says why an op's errors column moved, at the moment it does.
// Conflicts, failed conditions and injected failures are the workload's
// own outcomes (a lock lost, a transfer refused, a saga step failed on
// purpose), told as information.
//
// An op's samples only ever gain kinds, so a tick with as many as were
// told costs a map lookup an op, and nothing else.
func (x *run) announceErrors() {
	for _, o := range x.ops {
		told := x.errorsTold[o.Name]
		if len(o.ErrorSamples) == len(told) {
			continue
		}
		if told == nil {
			told = map[string]bool{}
			if x.errorsTold == nil {
				x.errorsTold = map[string]map[string]bool{}
			}
			x.errorsTold[o.Name] = told
		}
		for _, kind := range slices.Sorted(maps.Keys(o.ErrorSamples)) {
			if told[kind] {
				continue
			}
			told[kind] = true
			text := o.ErrorSamples[kind]
			ev := metrics.EventError
			if kind == metrics.ErrConflict.String() || kind == metrics.ErrCondition.String() || kind == metrics.ErrInjected.String() {
				ev = metrics.EventInfo
			}
			x.event(ev, fmt.Sprintf("%s: first %s error: %s", o.Name, kind, metrics.FirstLine(text, 200)))
		}
	}
}

// event records an event that happens now, on the runner's goroutine.
func (x *run) event(kind metrics.EventKind, msg string) {
	x.events.add(metrics.Event{At: x.elapsed, Kind: kind, Message: msg})
}

// publish makes a new immutable snapshot current.
func (x *run) publish(phase metrics.Phase) *metrics.Snapshot {
	x.seq++
	cluster, changes := x.watch.poll(x.db)
	use := x.procs.sample(time.Now(), phase == metrics.PhaseRunning)
	switch {
	case x.db != nil:
		x.lastUse = use
	case use == nil:
		// Shut down: the nodes' last figures stand, as the watch's view of
		// the cluster does, so that the final snapshot's counters (the
		// report's, Prometheus' last scrape) do not vanish.
		use = x.lastUse
	}
	if use != nil {
		cluster.Nodes = slices.Clone(cluster.Nodes) // the watch keeps its view for after shutdown
		for i, n := range cluster.Nodes {
			if u, ok := use[n.ID]; ok {
				u.apply(&cluster.Nodes[i])
			}
		}
	}
	for _, e := range x.procs.takeExits() {
		x.event(metrics.EventError, e)
	}
	for _, c := range changes {
		x.event(metrics.EventElection, c)
	}
	x.countElections(x.watch.takeElections())
	x.countFresh()
	now := time.Now()
	elections, suiteElections := x.elections.view(now, x.started)
	s := &metrics.Snapshot{
		Seq: x.seq, At: now, Elapsed: x.elapsed, Planned: x.planned(), Phase: phase, Suite: x.suite, Paused: x.load.paused,
		Ops: x.ops, Verdicts: x.verdicts, Err: x.errText, Load: x.load.view(now), Cluster: cluster, Events: x.events.view(),
		InFlight: x.inFlight, SuiteEnds: x.ends[:len(x.ends):len(x.ends)],
		Epochs: x.epochs.view(), EpochStart: x.epochs.start, EpochChange: x.epochs.change, Scalability: x.scal,
		Checks:    x.checks[:len(x.checks):len(x.checks)],
		Elections: elections, SuiteElections: suiteElections, SystemSeries: x.sysSeries.Points(),
	}
	if x.sampler != nil {
		s.System = x.sampler.Latest()
	}
	if x.diag != nil {
		s.Bottleneck, s.Bottlenecks = x.diag.Observe(s)
	}
	x.latest.Store(s)
	if x.cfg.OnSnapshot != nil {
		x.cfg.OnSnapshot(s)
	}
	return s
}

// finish shuts the database down and builds the report from the last
// snapshot; err is why the run failed, if it did.
func (x *run) finish(err error) *metrics.Report {
	x.bg.stopAndWait() // background changes give up, and the cluster waits for them
	if x.db != nil {
		x.publish(metrics.PhaseStopping)
		x.db.Close()
		x.db = nil
	}
	if len(x.ops) > 0 {
		x.epochs.close(x.elapsed, x.ops)
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

// plural is n and noun, with an s unless n is 1: "1 node", "3 nodes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// clusterSetting is the cluster mode as the report names it.
func clusterSetting(s string) string {
	m, err := ParseClusterMode(s)
	if err != nil {
		return s
	}
	return m.String()
}

// describeCluster adds where the nodes ran to report.
func (r *Runner) describeCluster(report *metrics.Report) {
	report.Cluster.Mode = clusterSetting(r.cfg.Cluster)
	report.Cluster.NodeLogs = r.procs.report()
	report.Cluster.NodeResources = r.procs.resources()
	report.Cluster.NodeExits = r.procs.exitsReport()
	if nodes := r.procs.nodeSeriesReport(); len(nodes) > 0 {
		report.Resources.Nodes = nodes
	}
	if r.cfg.NodeCPUs > 0 {
		report.Cluster.Emulated = true
		r.procs.mu.Lock()
		report.Cluster.CPUQuota = cmp.Or(r.procs.quotaText, fmt.Sprintf("%v CPUs per node", r.cfg.NodeCPUs))
		r.procs.mu.Unlock()
	}
}

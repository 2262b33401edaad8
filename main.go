// Command phantom is an interactive terminal load tester for the PhantomDB
// distributed core: it embeds a real Raft cluster, drives the performance
// suites against it and shows what happens live, or runs headless for CI.
//
// main only parses flags, handles signals and wires the packages together.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/phantomdb/phantom/internal/cgroup"
	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/profiles"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/profiles/runconfig"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
	"github.com/phantomdb/phantom/suites/metrics/prom"
	"github.com/phantomdb/phantom/tui"
)

// Exit codes, part of phantom's contract with scripts and CI.
const (
	exitPass        = 0   // every baseline held
	exitViolated    = 1   // a baseline was violated
	exitUsage       = 2   // bad usage or configuration
	exitRunFailed   = 3   // the run itself failed
	exitCheckFailed = 4   // a correctness check failed: a history not linearizable, a ledger that does not add up
	exitInterrupted = 130 // interrupted; the report was still written
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	node.RunIfChild() // a node process phantom started
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is bad input: one line on stderr and exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !slices.Contains([]string{"-h", "-help", "--help", "--version"}, args[0]) {
		return runTUI(args, stdout, stderr)
	}
	var code int
	var err error
	switch args[0] {
	case "run":
		code, err = runHeadless(args[1:], stdout, stderr)
	case "node":
		return node.Main(args[1:], stdout, stderr)
	case "profiles":
		err = runProfiles(args[1:], stdout)
	case "compare":
		code, err = runCompare(args[1:], stdout)
	case "report":
		code, err = runReport(args[1:], stdout)
	case "version", "--version":
		fmt.Fprintf(stdout, "phantom %s\n", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, mainHelp)
	default:
		err = usagef("unknown command %q; run 'phantom help' to see the commands", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %s\n", oneLine(err.Error()))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitRunFailed
	}
	return code
}

// oneLine keeps a multi-problem error on one line, as the contract promises.
func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

const mainHelp = `phantom — an interactive load tester for the PhantomDB distributed core.

Usage:
  phantom [--profile NAME] [--metrics-addr HOST:PORT]
                          open the terminal UI (setup screen, then a live dashboard),
                          its settings from profile NAME (default quick); with
                          --metrics-addr, Prometheus metrics on HOST:PORT/metrics
  phantom run [flags]     run headless: progress on stderr, summary on stdout
  phantom node --id ID [flags]
                          run one PhantomDB node as a process of its own, for
                          --cluster processes (phantom starts them) or
                          --cluster join=HOST:PORT,... (something else does);
                          'phantom node --help' for its flags
  phantom profiles        list built-in and user profiles
  phantom profiles show NAME
                          print a profile as TOML (a starting point for your own)
  phantom compare A.json B.json [--html OUT]
                          per-op deltas between two reports; exit 1 on a regression;
                          with --html, the comparison as a page, side by side
  phantom report FILE.json [--html OUT] [--markdown OUT] [--csv FILE.csv]
                          render a saved JSON report again: the HTML page, the
                          Markdown report and its SVG charts
  phantom version         print the version
  phantom help            this text

Run 'phantom run --help' for the headless flags.

Exit codes: 0 every baseline held · 1 a baseline was violated · 2 bad usage ·
3 the run failed · 4 a correctness check failed · 130 interrupted (the report
is still written).
`

// runTUI opens the terminal UI on the profile --profile names (quick by
// default), serving Prometheus metrics at --metrics-addr when given: the
// only flags it takes, the rest being set on its screens.
func runTUI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phantom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("profile", profiles.DefaultName, "")
	metricsAddr := fs.String("metrics-addr", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		msg := "run 'phantom help' to see the commands"
		if err != nil {
			msg = err.Error() + "; the terminal UI takes only --profile NAME and --metrics-addr HOST:PORT"
		} else {
			msg = "unknown command " + strconv.Quote(fs.Arg(0)) + "; " + msg
		}
		fmt.Fprintf(stderr, "phantom: %s\n", msg)
		return exitUsage
	}
	p, err := profiles.Find(*name)
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %s\n", oneLine(err.Error()))
		return exitUsage
	}
	cfg, err := runconfig.Config(p)
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %s\n", oneLine(err.Error()))
		return exitUsage
	}
	if *metricsAddr != "" {
		if err := prom.CheckAddr(*metricsAddr); err != nil {
			fmt.Fprintf(stderr, "phantom: %s\n", err)
			return exitUsage
		}
	}
	if f, ok := stdout.(*os.File); !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		fmt.Fprintln(stderr, "phantom: the terminal UI needs a terminal; to run headless use: phantom run --suites consensus --duration 10s")
		return exitUsage
	}
	if os.Getenv(envTUIChild) == "" {
		if code, ok := superviseTUI(stdout.(*os.File), args, stdout, stderr); ok {
			return code
		}
	}
	crashTest()
	// In the supervised child only: the parent must not hold the port.
	stopMetrics, err := serveMetrics(*metricsAddr, &cfg)
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %s\n", oneLine(err.Error()))
		return exitUsage
	}
	report, err := tui.Run(cfg)
	stopMetrics()
	if report != nil {
		if werr := metrics.WriteSummary(stdout, report); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %s\n", oneLine(err.Error()))
		return exitRunFailed
	}
	if report == nil {
		return exitPass
	}
	return outcome(report, nil)
}

// outcome maps a finished run to its exit code.
// A violated correctness check comes first: whatever else happened, the
// database returned something wrong.
func outcome(r *metrics.Report, runErr error) int {
	switch {
	case r.ChecksFailed():
		return exitCheckFailed
	case runErr != nil:
		return exitRunFailed
	case r.Interrupted:
		return exitInterrupted
	case !r.Passed():
		return exitViolated
	}
	return exitPass
}

const runHelp = `Usage: phantom run [flags]

Runs the chosen suites headless against a cluster (embedded in this process,
or node processes with --cluster processes, or nodes started elsewhere with
--cluster join=HOST:PORT,...): a progress line each second on stderr, a summary table on stdout, and an exit code that says
whether the baselines held (average latency < 100ms per op, > 1,000 ops/s per
suite, judged on the whole run) and whether the correctness checks passed
(the consensus and concurrency suites' histories are linearizable, the txn
and concurrency suites' ledgers add up to the committed transactions).

Exit codes: 0 every baseline held · 1 a baseline was violated · 2 bad usage
or configuration · 3 the run itself failed, or a report file could not be
written · 4 a correctness check failed (the check's detail in the summary
and report says which, and names the visualisation of a history that is
not linearizable, written beside --report) · 130 interrupted.

Settings start from a profile (--profile, default quick; see phantom
profiles); every flag given overrides the profile.

Every op has a deadline (--op-timeout, 5s): an op past it counts as an error
of kind timeout, ops still waiting over a second show on the progress line, and
ops cut short by a suite's end are in the report (in_flight_at_end).

--nemesis injects random faults while every suite runs; the built-in profile
chaos runs consensus, txn and concurrency with all of them on.

Examples:
  phantom run --suites consensus --nodes 3 --clients 16 --duration 10s
  phantom run --profile chaos
  phantom run --suites consensus,txn --nodes 5 --nemesis kill,crash,partition,delay
  phantom run --profile seed --duration 30s
  phantom run --suites consensus --data-size 1MB --report out.json
  phantom run --profile seed --html report.html --markdown report.md
  phantom run --cluster processes --suites consensus,txn --at 5s:crash --at 8s:restart
  phantom run --cluster processes --node-cpus 0.2 --nodes 8 --clients 512 --suites scalability
  phantom run --json > report.json

Flags:
`

// runFlags are the headless flags; each overrides the default settings.
type runFlags struct {
	cfg      suites.Config
	profile  string
	report   string
	markdown string
	html     string
	csv      string
	raftLog  string
	json     bool
	// cpuProfile is where to write a Go CPU profile of phantom's own
	// process over the run (--cpuprofile).
	cpuProfile string
	// metricsAddr is where to serve Prometheus metrics while the run lasts.
	metricsAddr string
}

// testHooks let main's tests reach into a run; nil outside tests.
var testHooks struct {
	// metricsUp is called once the metrics server listens, metricsDone
	// after the run, before the server closes: the last scrape's moment.
	metricsUp, metricsDone func(addr string)
}

// serveMetrics starts the --metrics-addr server when addr is set, feeding
// it the snapshots that cfg's OnSnapshot sees; stop closes it. A bad or
// busy address is a usage error.
func serveMetrics(addr string, cfg *suites.Config) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	srv, err := prom.Listen(addr)
	if err != nil {
		return nil, usagef("%s", err)
	}
	if h := testHooks.metricsUp; h != nil {
		h(srv.Addr())
	}
	prev := cfg.OnSnapshot
	cfg.OnSnapshot = func(s *metrics.Snapshot) {
		if prev != nil {
			prev(s)
		}
		srv.Exporter.Update(s)
	}
	return func() {
		if h := testHooks.metricsDone; h != nil {
			h(srv.Addr())
		}
		srv.Close()
	}, nil
}

func parseRunFlags(args []string, stdout io.Writer) (*runFlags, bool, error) {
	rf := &runFlags{}
	def := profiles.Default()
	cfg := &rf.cfg // the profile's settings, once it is loaded; a knob flag given overrides its knob
	fs := flag.NewFlagSet("phantom run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	profile := fs.String("profile", profiles.DefaultName, "profile to start from: a built-in or user profile name, or a .toml path (see phantom profiles)")
	suiteList := fs.String("suites", strings.Join(def.Suites, ","), "comma-separated suites to run, in order: "+strings.Join(suites.Names(), ", "))
	knob.Var(fs, &knob.Nodes, def.Nodes, fmt.Sprintf("cluster nodes (%s)", knob.Nodes.Bounds()), func(v int) { cfg.Nodes = v })
	knob.Var(fs, &knob.Shards, def.Shards, fmt.Sprintf("Raft groups keys are hash-partitioned over, each of min(3, nodes) replicas; 0 = one per node (%s)", knob.Shards.Bounds()), func(v int) { cfg.Shards = v })
	knob.Var(fs, &knob.NetDelay, time.Duration(def.NetDelay), "one-way delay added to every link between nodes (e.g. 5ms)", func(v time.Duration) { cfg.NetDelay = v })
	storage := fs.String("storage", def.Storage, "where Raft logs live: memory, or disk (fsync'd, in a temporary directory removed at exit)")
	cluster := fs.String("cluster", def.Cluster, "where the nodes run: embedded (in this process), processes (a 'phantom node' process each on 127.0.0.1, SIGKILLed by crash faults; their logs are named in the report), or join=HOST:PORT,... (nodes something else started, the rest found from those named; restarts refused)")
	knob.Var(fs, &knob.NodeCPUs, def.NodeCPUs, "with --cluster processes: put each node process under a CPU quota of this many CPUs (e.g. 0.25; cgroups, needs root), so that adding nodes adds CPU as separate machines would; the report marks the run as emulated and states the quota (0 = no quota)", func(v float64) { cfg.NodeCPUs = v })
	knob.Var(fs, &knob.Rate, def.Rate, "open loop: iterations per second over all clients, started on schedule however the cluster answers; latency counts from the scheduled time (0 = closed loop)", func(v float64) { cfg.Rate = v })
	var at listFlag
	fs.Var(&at, "at", "TIME:ACTION, repeatable: a live change at a time since the load started — clients=N, nodes=N, data-size=SIZE, rate=N, net-delay=D, kill-leader, crash[=NODE], restart[=NODE], partition[=NODE], heal, pause, resume (e.g. --at 10s:clients=50 --at 20s:kill-leader); replaces the profile's list")
	knob.Var(fs, &knob.Transactions, def.Transactions, "transactions that end the txn suite, if its duration does not first (0 = no bound)", func(v int) { cfg.Transactions = v })
	knob.Var(fs, &knob.Queries, def.Queries, "queries that end the query suite, if its duration does not first (0 = no bound)", func(v int) { cfg.Queries = v })
	knob.Var(fs, &knob.Clients, def.Clients, fmt.Sprintf("concurrent load clients (%s)", knob.Clients.Bounds()), func(v int) { cfg.Clients = v })
	knob.Var(fs, &knob.Duration, time.Duration(def.Duration), "how long each suite runs (e.g. 10s, 1m)", func(v time.Duration) { cfg.Duration = v })
	knob.Var(fs, &knob.DataSize, int(def.DataSize), "bytes per written value: 512B, 1KiB, 64KB, 1MB, 1MiB (up to "+knob.DataSize.Format(knob.DataSize.Max)+")", func(v int) { cfg.DataSize = v })
	fs.StringVar(&rf.report, "report", "", "write the JSON report to this file (atomically)")
	fs.StringVar(&rf.markdown, "markdown", "", "write the Markdown report to this file (atomically), its charts as SVG files in FILE-charts/ beside it (out.md: out-charts/)")
	fs.StringVar(&rf.html, "html", "", "write the report as one self-contained HTML page to this file (atomically): the verdict, every op's charts, resources, scalability, events; no script, no network")
	fs.StringVar(&rf.csv, "csv", "", "write the per-tick time series as CSV to this file (one row per tick per op)")
	fs.BoolVar(&rf.json, "json", false, "print the JSON report on stdout instead of the summary (the summary goes to stderr)")
	seed := fs.Int64("seed", def.Seed, "seed of the random generators, so runs repeat")
	knob.Var(fs, &knob.OpTimeout, time.Duration(def.OpTimeout), fmt.Sprintf("every op's deadline: an op still running past it is an error of kind timeout (%s)", knob.OpTimeout.Bounds()), func(v time.Duration) { cfg.OpTimeout = v })
	nemesis := fs.String(knob.Nemesis.Flag, "", "random faults during every suite, comma-separated: any of "+strings.Join(knob.NemesisFaults, ",")+" — one every few seconds, each undone before the next (crash then restart, partition then heal, delay then cleared), never costing a quorum, seeded by --seed; replaces the profile's list")
	fs.StringVar(&rf.raftLog, "raft-log", "", "append the cluster's Raft log lines (warnings and up) to this file, for debugging")
	fs.StringVar(&rf.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on http://HOST:PORT/metrics while the run lasts (e.g. 127.0.0.1:9464)")
	fs.StringVar(&rf.cpuProfile, "cpuprofile", "", "write a Go CPU profile of phantom's own process (the load, and the embedded cluster's nodes) over the run to this file, for `go tool pprof`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, runHelp)
			printDefaults(stdout, fs)
			return nil, true, nil
		}
		return nil, false, usagef("%s", doubleDash(err))
	}
	if fs.NArg() > 0 {
		return nil, false, usagef("unexpected argument %q; flags look like --nodes 3", fs.Arg(0))
	}

	p, err := profiles.Find(*profile)
	if err != nil {
		return nil, false, usagef("%s", err)
	}
	if rf.cfg, err = runconfig.Config(p); err != nil {
		return nil, false, usagef("%s", err)
	}
	rf.profile = p.Name
	// Flags the user gave override the profile; the others keep its values.
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		if k, ok := f.Value.(interface{ Apply() }); ok {
			k.Apply()
			return
		}
		switch f.Name {
		case "suites":
			cfg.Suites = splitList(*suiteList)
		case "storage":
			cfg.Storage = *storage
		case "cluster":
			cfg.Cluster = *cluster
		case "seed":
			cfg.Seed = *seed
		case knob.Nemesis.Flag:
			list, err := knob.ParseNemesis(*nemesis)
			if err != nil {
				flagErr = fmt.Errorf("--nemesis %s: %w", *nemesis, err)
				return
			}
			cfg.Nemesis = list
		case "at":
			cfg.At = nil
			for _, a := range at {
				act, err := knob.ParseTimed(a)
				if err != nil {
					flagErr = fmt.Errorf("--at %s: %w", a, err)
					return
				}
				cfg.At = append(cfg.At, act)
			}
		}
	})
	if flagErr != nil {
		return nil, false, usagef("%s", flagErr)
	}
	if err := rf.cfg.Validate(); err != nil {
		return nil, false, usagef("%s", err)
	}
	if err := resumedPauses(rf.cfg.At); err != nil {
		return nil, false, usagef("%s", err)
	}
	if rf.cfg.NodeCPUs > 0 {
		if err := cgroup.Check(); err != nil {
			return nil, false, usagef("%s", err)
		}
	}
	if rf.metricsAddr != "" {
		if err := prom.CheckAddr(rf.metricsAddr); err != nil {
			return nil, false, usagef("%s", err)
		}
	}
	for _, path := range []string{rf.report, rf.markdown, rf.html, rf.csv} {
		if path == "" {
			continue
		}
		if err := checkWritable(path); err != nil {
			return nil, false, usagef("%s", err)
		}
	}
	return rf, false, nil
}

// resumedPauses refuses a scripted pause that no later resume undoes: a
// headless run has nobody to press space, and its paused clocks would
// keep it waiting until Ctrl-C. (The TUI takes such a script: its user
// resumes.)
func resumedPauses(at []knob.TimedAction) error {
	s := slices.Clone(at)
	slices.SortStableFunc(s, func(a, b knob.TimedAction) int { return cmp.Compare(a.At, b.At) })
	var paused *knob.TimedAction
	for i, a := range s {
		switch a.Verb {
		case knob.VerbPause:
			if paused == nil {
				paused = &s[i]
			}
		case knob.VerbResume:
			paused = nil
		}
	}
	if paused != nil {
		return fmt.Errorf("--at %v:%s is never resumed: a headless run would wait paused until Ctrl-C; add --at TIME:resume after it", paused.At, paused.Action)
	}
	return nil
}

// printDefaults writes fs's flags as flag.PrintDefaults does, naming a
// knob flag's type as the knob does: the flag package calls every type it
// does not know "value".
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		def := ""
		switch v := f.Value.(type) {
		case interface {
			Type() string
			IsZero() bool
		}:
			name = v.Type()
			if !v.IsZero() {
				def = f.DefValue
				if name == "string" {
					def = strconv.Quote(def)
				}
			}
		default:
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				def = f.DefValue
				if name == "string" {
					def = strconv.Quote(def)
				}
			}
		}
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if def != "" {
			line += " (default " + def + ")"
		}
		fmt.Fprintln(w, line)
	})
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// checkWritable fails early on a report path that cannot be written, so a
// long run does not end in a lost report.
func checkWritable(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("report path %s is a directory; give a file name", path)
	}
	dir := "."
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir = path[:i+1]
	}
	f, err := os.CreateTemp(dir, ".phantom-check-*")
	if err != nil {
		return fmt.Errorf("cannot write the report to %s: %v", path, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func runHeadless(args []string, stdout, stderr io.Writer) (int, error) {
	rf, help, err := parseRunFlags(args, stdout)
	if err != nil || help {
		return exitPass, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sigs); close(sigs) }() // Stop first: no send after close
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		fmt.Fprintln(stderr, "phantom: interrupted; stopping the load and writing the report (Ctrl-C again to quit at once)")
		cancel()
		if _, ok := <-sigs; ok {
			os.Exit(exitInterrupted)
		}
	}()

	if rf.raftLog != "" {
		f, err := os.OpenFile(rf.raftLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return exitUsage, usagef("cannot open the raft log: %v", err)
		}
		defer f.Close()
		rf.cfg.LogOutput = f
	}
	if rf.cpuProfile != "" {
		f, err := os.Create(rf.cpuProfile)
		if err != nil {
			return exitUsage, usagef("cannot write the CPU profile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return exitUsage, usagef("cannot start the CPU profile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	progress := &progressPrinter{w: stderr}
	rf.cfg.OnSnapshot = progress.onSnapshot
	var csvFile *metrics.AtomicFile
	var series *metrics.SeriesWriter
	if rf.csv != "" {
		// Streamed as ticks arrive; committed at the end, interrupted or not.
		if csvFile, err = metrics.CreateAtomic(rf.csv); err != nil {
			return exitUsage, usagef("%s", err)
		}
		defer csvFile.Abort() // a no-op once committed
		series = metrics.NewSeriesWriter(csvFile)
		rf.cfg.OnSnapshot = func(s *metrics.Snapshot) { progress.onSnapshot(s); series.Add(s) }
	}
	rf.cfg.CheckDir = checkDir(rf.report, rf.markdown, rf.csv)
	stopMetrics, err := serveMetrics(rf.metricsAddr, &rf.cfg)
	if err != nil {
		return exitUsage, err
	}
	runner, err := suites.New(rf.cfg)
	if err != nil {
		stopMetrics()
		return exitUsage, usagef("%s", err)
	}
	fmt.Fprintf(stderr, "phantom: profile %s · %s · %d nodes · %d shards · %d clients · %v per suite · data %s\n",
		rf.profile, strings.Join(rf.cfg.Suites, ","), rf.cfg.Nodes, cmp.Or(rf.cfg.Shards, rf.cfg.Nodes), rf.cfg.Clients, rf.cfg.Duration, knob.Size(rf.cfg.DataSize))
	report, runErr := runner.Run(ctx)
	stopMetrics()
	report.Version = version

	if rf.report != "" {
		if err := metrics.WriteFileAtomic(rf.report, func(w io.Writer) error { return metrics.WriteJSON(w, report) }); err != nil {
			return exitRunFailed, err
		}
	}
	if rf.markdown != "" {
		if err := metrics.WriteMarkdownFiles(rf.markdown, report); err != nil {
			return exitRunFailed, err
		}
	}
	if rf.html != "" {
		if err := metrics.WriteFileAtomic(rf.html, func(w io.Writer) error { return metrics.WriteHTML(w, report) }); err != nil {
			return exitRunFailed, err
		}
	}
	if series != nil {
		if err := series.Flush(); err != nil {
			return exitRunFailed, fmt.Errorf("cannot write %s: %w", rf.csv, err)
		}
		if err := csvFile.Commit(); err != nil {
			return exitRunFailed, err
		}
	}
	summary := stdout
	if rf.json {
		if err := metrics.WriteJSON(stdout, report); err != nil {
			return exitRunFailed, err
		}
		summary = stderr
	}
	if err := metrics.WriteSummary(summary, report); err != nil {
		return exitRunFailed, err
	}
	return outcome(report, runErr), runErr
}

// checkDir is where the checks write their evidence: beside the first
// report file asked for, or the working directory.
func checkDir(paths ...string) string {
	for _, p := range paths {
		if p != "" && !strings.HasPrefix(p, "/dev/") {
			return filepath.Dir(p)
		}
	}
	return ""
}

// progressPrinter writes one line a second from the runner's snapshots.
type progressPrinter struct {
	w    io.Writer
	next time.Duration
}

func (p *progressPrinter) onSnapshot(s *metrics.Snapshot) {
	if s.Phase != metrics.PhaseRunning || s.Elapsed < p.next {
		return
	}
	p.next = s.Elapsed.Truncate(time.Second) + time.Second
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs/%.0fs  %-11s", s.Elapsed.Seconds(), s.Planned.Seconds(), s.Suite)
	for _, o := range s.Ops {
		if o.Suite != s.Suite || !o.Primary {
			continue
		}
		w := o.Window
		fmt.Fprintf(&b, "  %s %s ops/s avg %s p99 %s err %d", o.Name, metrics.FormatCount(w.OpsPerSec),
			metrics.FormatDuration(w.Latency.Avg), metrics.FormatDuration(w.Latency.P99), w.Errors)
	}
	if s.Load.TargetRate > 0 {
		fmt.Fprintf(&b, "  late %d behind %s", s.Load.Late, metrics.FormatDuration(s.Load.Lag))
	}
	if f := s.InFlight; f.Waiting > 0 {
		fmt.Fprintf(&b, "  ⚠ %d ops waiting > %s, oldest %s", f.Waiting, metrics.FormatDuration(metrics.StallAfter), metrics.FormatDuration(f.Oldest))
	}
	if g := s.System.CPU; g.OK {
		fmt.Fprintf(&b, "  cpu %.0f%%", g.Value)
	}
	if g := s.System.RSS; g.OK {
		fmt.Fprintf(&b, "  rss %s", metrics.FormatBytes(g.Value))
	}
	for _, v := range s.Verdicts {
		if !v.Pass {
			fmt.Fprintf(&b, "  ✗ %s", v.Describe())
		}
	}
	switch {
	case s.Paused:
		// The verdict is the last measured tick's (Diagnoser.Observe
		// judges no paused tick): shown now, it would be read as the
		// idle cluster's.
		b.WriteString("  ‖ paused")
	case s.Bottleneck.Line != "":
		fmt.Fprintf(&b, "  ▸ %s", s.Bottleneck.Line)
	}
	fmt.Fprintln(p.w, b.String())
}

const compareHelp = `Usage: phantom compare [--threshold 10%] [--html OUT] A.json B.json

Compares two JSON reports op by op — throughput, average and p99 latency of
B against A — and marks an op REGRESSED when B has less throughput, or a
higher average or p99 latency, by more than the threshold. Exit code 1 when
any op regressed, 0 otherwise. With --html, the comparison is also written
as one self-contained HTML page: the runs side by side, the regressions
marked, each op's charts of A beside B's.

Example:
  phantom compare --threshold 5% baseline.json candidate.json
  phantom compare --html diff.html baseline.json candidate.json

Flags:
`

func runCompare(args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("phantom compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	threshold := fs.String("threshold", "10%", "relative change that counts as a regression, e.g. 10% or 2.5%")
	htmlOut := fs.String("html", "", "also write the comparison as a self-contained HTML page to this file (atomically)")
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, compareHelp)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitPass, nil
		}
		return exitUsage, usagef("%s", doubleDash(err))
	}
	if fs.NArg() != 2 {
		return exitUsage, usagef("compare takes two report files, A and B; got %d", fs.NArg())
	}
	t, err := parsePercent(*threshold)
	if err != nil {
		return exitUsage, usagef("%s", err)
	}
	a, err := metrics.ReadReport(fs.Arg(0))
	if err != nil {
		return exitUsage, usagef("%s", err)
	}
	b, err := metrics.ReadReport(fs.Arg(1))
	if err != nil {
		return exitUsage, usagef("%s", err)
	}
	deltas := metrics.Compare(a, b, t)
	if *htmlOut != "" {
		if err := checkWritable(*htmlOut); err != nil {
			return exitUsage, usagef("%s", err)
		}
		if err := metrics.WriteFileAtomic(*htmlOut, func(w io.Writer) error {
			return metrics.WriteComparisonHTML(w, a, b, fs.Arg(0), fs.Arg(1), t)
		}); err != nil {
			return exitRunFailed, err
		}
	}
	if err := metrics.WriteComparison(stdout, deltas, t); err != nil {
		return exitRunFailed, err
	}
	for _, d := range deltas {
		if d.Regressed {
			return exitViolated, nil
		}
	}
	return exitPass, nil
}

// parsePercent reads "10%" or "10" as 0.10.
func parsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 1000 || math.IsNaN(v) {
		return 0, fmt.Errorf("threshold %q is not a percentage between 0%% and 1000%%; write it like 10%%", s)
	}
	return v / 100, nil
}

func runProfiles(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0 || args[0] == "list":
		entries, err := profiles.List()
		if err != nil {
			return usagef("%s", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "name\tsource\tdescription")
		for _, e := range entries {
			desc := e.Description
			switch {
			case e.Err != nil:
				desc = "cannot load: " + oneLine(e.Err.Error())
			case e.Shadowed:
				desc = "(replaced by the user profile of the same name) " + desc
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Source, desc)
		}
		return tw.Flush()
	case args[0] == "show" && len(args) == 2:
		p, err := profiles.Find(args[1])
		if err != nil {
			return usagef("%s", err)
		}
		b, err := profiles.Marshal(p)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		dir, _ := profiles.Dir()
		fmt.Fprintf(stdout, "Usage:\n  phantom profiles             list built-in and user profiles\n  phantom profiles show NAME   print one as TOML\n\nUser profiles live in %s (NAME.toml).\nRun one with: phantom run --profile NAME\n", dir)
		return nil
	}
	return usagef("unknown profiles command %q; use 'phantom profiles' or 'phantom profiles show NAME'", strings.Join(args, " "))
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// doubleDash is a flag package error with the flag named as phantom's
// help writes it, --name: the package writes -name, after a space
// ("invalid value \"-1\" for flag -node-cpus: ..."), so the first
// space-dash-letter is the flag, never a dash inside the value.
func doubleDash(err error) string {
	msg := err.Error()
	for i := 0; i+2 < len(msg); i++ {
		if msg[i] == ' ' && msg[i+1] == '-' && (msg[i+2] >= 'a' && msg[i+2] <= 'z' || msg[i+2] >= 'A' && msg[i+2] <= 'Z') {
			return msg[:i+1] + "-" + msg[i+1:]
		}
	}
	return msg
}

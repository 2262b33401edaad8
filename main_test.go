package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phantomdb/phantom/node"
	"github.com/phantomdb/phantom/profiles"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/profiles/runconfig"
	"github.com/phantomdb/phantom/suites/metrics"
)

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	notReport := filepath.Join(dir, "notes.json")
	if err := os.WriteFile(notReport, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	badTOML := write("bad.toml", "nodes = [\n")
	unknownKey := write("unknown.toml", "nodez = 3\n")
	outOfRange := write("range.toml", "nodes = 0\n")
	late := write("late.toml", "at = [\"10m:heal\"]\n")
	cpusEmbedded := write("cpus.toml", "node_cpus = 0.2\n")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"tui unknown profile", []string{"--profile", "nosuch"}, `no profile named "nosuch"`},
		{"tui broken profile", []string{"--profile", badTOML}, "bad.toml"},
		{"tui unknown flag", []string{"--nodes", "3"}, "the terminal UI takes only --profile NAME"},
		{"tui extra argument", []string{"--profile", "demo", "extra"}, `unknown command "extra"`},
		{"tui metrics addr", []string{"--metrics-addr", "nowhere"}, "--metrics-addr nowhere: want HOST:PORT"},
		{"metrics addr no port", []string{"run", "--metrics-addr", "127.0.0.1"}, "--metrics-addr 127.0.0.1: want HOST:PORT"},
		{"metrics addr bad port", []string{"run", "--metrics-addr", "127.0.0.1:http99"}, "is not a number from 0 to 65535"},
		{"metrics addr not local", []string{"run", "--duration", "1s", "--metrics-addr", "192.0.2.1:9464"}, "--metrics-addr 192.0.2.1:9464: listen tcp"},
		{"unknown suite", []string{"run", "--suites", "nope"}, `unknown suite "nope"`},
		{"nodes 0", []string{"run", "--nodes", "0"}, "nodes must be between 1 and 100, got 0"},
		{"nodes 100000", []string{"run", "--nodes", "100000"}, "nodes must be between"},
		{"clients -1", []string{"run", "--clients", "-1"}, "clients must be between"},
		{"clients text", []string{"run", "--clients", "many"}, `invalid value "many" for flag --clients`},
		{"data size unit", []string{"run", "--data-size", "1XB"}, `invalid value "1XB" for flag --data-size: "1XB" is not a size`},
		{"data size too big", []string{"run", "--data-size", "1GiB"}, "data size must be between 1B and 16MiB"},
		{"duration negative", []string{"run", "--duration", "-5s"}, "duration must be between"},
		{"duration text", []string{"run", "--duration", "soon"}, `invalid value "soon" for flag --duration`},
		{"node cpus embedded", []string{"run", "--node-cpus", "0.2"}, "node CPU quotas (--node-cpus) need cluster processes, not embedded"},
		{"node cpus text", []string{"run", "--cluster", "processes", "--node-cpus", "half"}, `--node-cpus "half" is not a number of CPUs`},
		{"node cpus negative", []string{"run", "--cluster", "processes", "--node-cpus", "-1"}, `invalid value "-1" for flag --node-cpus: --node-cpus -1 is below`},
		{"undefined flag", []string{"run", "--frobnicate"}, "flag provided but not defined: --frobnicate"},
		{"flag without its value", []string{"run", "--clients"}, "flag needs an argument: --clients"},
		{"node cpus tiny", []string{"run", "--cluster", "processes", "--node-cpus", "0.001"}, "below the smallest quota"},
		{"node cpus too many", []string{"run", "--cluster", "processes", "--node-cpus", "4096"}, "more than this machine's"},
		{"node cpus profile embedded", []string{"run", "--profile", cpusEmbedded}, `node_cpus = 0.2 needs cluster = "processes"`},
		{"unknown flag", []string{"run", "--frobnicate"}, "flag provided but not defined: --frobnicate"},
		{"stray argument", []string{"run", "extra"}, `unexpected argument "extra"`},
		{"report in missing dir", []string{"run", "--report", filepath.Join(dir, "no", "r.json")}, "cannot write the report"},
		{"report is a dir", []string{"run", "--report", dir}, "is a directory"},
		{"two problems", []string{"run", "--nodes", "0", "--clients", "0"}, "nodes must be between 1 and 100, got 0; clients must be"},
		{"markdown in missing dir", []string{"run", "--markdown", filepath.Join(dir, "no", "r.md")}, "cannot write the report"},
		{"csv in missing dir", []string{"run", "--csv", filepath.Join(dir, "no", "r.csv")}, "cannot write the report"},
		{"cpu profile in missing dir", []string{"run", "--cpuprofile", filepath.Join(dir, "no", "p.cpu")}, "cannot write the CPU profile"},
		{"compare one file", []string{"compare", "a.json"}, "compare takes two report files"},
		{"compare missing file", []string{"compare", filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}, "cannot read report"},
		{"compare non-report", []string{"compare", notReport, notReport}, "is not a phantom report"},
		{"missing profile", []string{"run", "--profile", "nope"}, `no profile named "nope"`},
		{"malformed profile", []string{"run", "--profile", badTOML}, "malformed TOML"},
		{"unknown profile key", []string{"run", "--profile", unknownKey}, `unknown key "nodez"`},
		{"profile out of range", []string{"run", "--profile", outOfRange}, "range.toml:1: nodes must be between 1 and 100, got 0"},
		{"profile action after the end", []string{"run", "--profile", late}, "at 10m0s:heal comes after the load ends"},
		{"at unknown action", []string{"run", "--at", "5s:explode"}, `--at 5s:explode: unknown action "explode"`},
		{"pause never resumed", []string{"run", "--at", "1s:pause", "--at", "2s:resume", "--at", "3s:pause"}, "--at 3s:pause is never resumed"},
		{"at after the end", []string{"run", "--suites", "consensus", "--duration", "5s", "--at", "6s:heal"}, "comes after the load ends (5s planned)"},
		{"at crash of an unknown node", []string{"run", "--at", "2s:crash=leader"}, `--at 2s:crash=leader: crash=leader: "leader" is not a node`},
		{"at restart of no node", []string{"run", "--at", "2s:restart=all"}, `"all" is not a node`},
		{"rate negative", []string{"run", "--rate", "-5"}, "rate must be between 0 (closed loop)"},
		{"rate text", []string{"run", "--rate", "fast"}, `invalid value "fast" for flag --rate: "fast" is not a number of ops/s`},
		{"net delay text", []string{"run", "--net-delay", "5"}, `invalid value "5" for flag --net-delay`},
		{"net delay too long", []string{"run", "--net-delay", "11s"}, "net delay must be between 0s and 10s, got 11s"},
		{"at duration", []string{"run", "--at", "2s:duration=5s"}, "--at 2s:duration=5s: duration cannot be scripted"},
		{"at live rate of 0", []string{"run", "--rate", "100", "--at", "2s:rate=0"}, "rate must be above 0"},
		{"unknown storage", []string{"run", "--storage", "tape"}, `storage must be "memory" or "disk", got "tape"`},
		{"op timeout text", []string{"run", "--op-timeout", "soon"}, `invalid value "soon" for flag --op-timeout`},
		{"op timeout too short", []string{"run", "--op-timeout", "1ms"}, "op timeout must be between 10ms and 1m, got 1ms"},
		{"op timeout too long", []string{"run", "--op-timeout", "5m"}, "op timeout must be between 10ms and 1m, got 5m"},
		{"nemesis unknown fault", []string{"run", "--nemesis", "kill,flood"}, `--nemesis kill,flood: nemesis fault "flood" is unknown; use any of kill, crash, partition, delay`},
		{"nemesis twice", []string{"run", "--nemesis", "crash,crash"}, `nemesis fault "crash" is listed twice`},
		{"profiles show missing", []string{"profiles", "show", "nope"}, `no profile named "nope"`},
		{"profiles bad command", []string{"profiles", "frob"}, "unknown profiles command"},
		{"compare bad threshold", []string{"compare", "--threshold", "lots", "a", "b"}, `threshold "lots" is not a percentage`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := realMain(c.args, &out, &errb)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			msg := errb.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "phantom: ") {
				t.Errorf("stderr %q, want one line starting phantom:", msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("stderr %q, want it to say %q", msg, c.want)
			}
			if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
				t.Errorf("stack trace on stderr: %q", msg)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"run", "--help"}, {"compare", "--help"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := realMain(args, &out, &errb); code != exitPass || out.Len() == 0 || errb.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q", args, code, out.Len(), errb.String())
		}
	}
	var out bytes.Buffer
	realMain([]string{"run", "--help"}, &out, &out)
	for _, flag := range []string{"--suites", "-nodes", "-clients", "-duration", "-data-size", "-report", "-json", "Examples"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("run --help lacks %s", flag)
		}
	}
}

func TestTUINeedsATerminal(t *testing.T) {
	var out, errb bytes.Buffer
	if code := realMain(nil, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "phantom run") {
		t.Errorf("exit %d, stderr %q; want 2 and how to run headless", code, errb.String())
	}
}

// A real headless run: a 3-node cluster for 2 s, the report on disk and on
// stdout, figures consistent with each other.
func TestHeadlessRunWritesAPlausibleReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	var out, errb bytes.Buffer
	code := realMain([]string{"run", "--suites", "consensus", "--nodes", "3", "--clients", "4", "--duration", "2s", "--report", path, "--json",
		"--markdown", filepath.Join(dir, "out.md"), "--csv", filepath.Join(dir, "out.csv")}, &out, &errb)
	if code != exitPass && code != exitViolated {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, out.Bytes()) {
		t.Error("--report file and --json output differ")
	}
	var r struct {
		Schema      string  `json:"schema"`
		Interrupted bool    `json:"interrupted"`
		Elapsed     float64 `json:"elapsed_s"`
		Suites      map[string]struct {
			Ops map[string]struct {
				Count     uint64  `json:"count"`
				Errors    uint64  `json:"errors"`
				OpsPerSec float64 `json:"ops_per_sec"`
				Elapsed   float64 `json:"elapsed_s"`
				Latency   struct {
					Avg, Min, Max, P50, P90, P99, P999 float64
				} `json:"latency_ms"`
			} `json:"ops"`
		} `json:"suites"`
		Baselines []struct {
			Pass bool `json:"pass"`
		} `json:"baselines"`
	}
	if err := json.Unmarshal(file, &r); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	op, ok := r.Suites["consensus"].Ops["consensus.submit"]
	if !ok {
		t.Fatalf("no consensus.submit in %s", file)
	}
	if r.Schema != "phantom.report/v1" || r.Interrupted {
		t.Errorf("schema %q interrupted %v", r.Schema, r.Interrupted)
	}
	if op.Count == 0 {
		t.Fatal("no op completed in 2 s")
	}
	if op.Elapsed < 2 || op.Elapsed > 4 {
		t.Errorf("measured %.2fs for a 2s run", op.Elapsed)
	}
	if got := op.OpsPerSec * op.Elapsed; math.Abs(got-float64(op.Count)) > 1 {
		t.Errorf("ops/s %.1f over %.2fs is %.0f ops, report says %d", op.OpsPerSec, op.Elapsed, got, op.Count)
	}
	l := op.Latency
	if !(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Avg >= l.Min && l.Avg <= l.Max) {
		t.Errorf("latencies out of order: %+v", l)
	}
	if len(r.Baselines) != 4 {
		t.Errorf("%d baselines, want submit, replicate and read avg latency, and throughput", len(r.Baselines))
	}
	wantCode := exitPass
	for _, b := range r.Baselines {
		if !b.Pass {
			wantCode = exitViolated
		}
	}
	if code != wantCode {
		t.Errorf("exit %d, but the baselines say %d", code, wantCode)
	}
	progress := strings.Count(errb.String(), "consensus.submit")
	if progress < 2 {
		t.Errorf("%d progress lines on stderr in 2 s, want one a second:\n%s", progress, errb.String())
	}
	if !strings.Contains(errb.String(), "result") {
		t.Errorf("with --json the summary belongs on stderr:\n%s", errb.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "out.md"))
	if err != nil || !strings.Contains(string(md), "## 2. Comparison against baselines") || !strings.Contains(string(md), "consensus.submit") {
		t.Errorf("markdown report missing or incomplete (%v):\n%s", err, md)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "out.csv"))
	rows := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if err != nil || len(rows) < 6 || !strings.HasPrefix(rows[1], "0.") {
		t.Errorf("csv series has %d rows for 2 s at 250 ms ticks (%v):\n%s", len(rows), err, csv)
	}
	var sum uint64
	for _, row := range rows[1:] {
		cols := strings.Split(row, ",")
		if cols[2] != "consensus.submit" {
			continue
		}
		var n uint64
		fmt.Sscan(cols[3], &n)
		sum += n
	}
	if sum != op.Count {
		t.Errorf("csv rows count %d ops, the report %d", sum, op.Count)
	}

	// The same report compared with itself regresses nothing.
	var cmp bytes.Buffer
	if code := realMain([]string{"compare", path, path}, &cmp, &cmp); code != exitPass || !strings.Contains(cmp.String(), "+0.0%") {
		t.Errorf("compare of a report with itself: exit %d\n%s", code, cmp.String())
	}
}

// TestMain lets a test run phantom as a child process of the test binary:
// with PHANTOM_TEST_MAIN set, the binary is phantom.
func TestMain(m *testing.M) {
	node.RunIfChild() // a node process of a processes-mode run below
	if os.Getenv("PHANTOM_TEST_MAIN") == "1" {
		os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestInterruptStillWritesTheReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	cmd := exec.Command(os.Args[0], "run", "--suites", "consensus", "--nodes", "3", "--clients", "4", "--duration", "1m", "--report", path)
	cmd.Env = append(os.Environ(), "PHANTOM_TEST_MAIN=1")
	var errb lockedBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the load is running: after the first progress line.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "consensus.submit") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d; stderr:\n%s", err, exitInterrupted, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no report after interrupt: %v", err)
	}
	var r struct {
		Interrupted bool `json:"interrupted"`
		Suites      map[string]struct {
			Ops map[string]struct {
				Count uint64 `json:"count"`
			} `json:"ops"`
		} `json:"suites"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report after interrupt is not JSON: %v", err)
	}
	if !r.Interrupted || r.Suites["consensus"].Ops["consensus.submit"].Count == 0 {
		t.Errorf("report interrupted=%v with %d ops; want a marked, non-empty partial report", r.Interrupted, r.Suites["consensus"].Ops["consensus.submit"].Count)
	}
}

// lockedBuffer is a buffer a child process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestEveryBuiltinProfileRuns(t *testing.T) {
	entries, err := profiles.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p, err := profiles.Find(e.Name)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if _, err := runconfig.Config(p); err != nil {
			t.Errorf("built-in %s cannot run: %v", e.Name, err)
		}
	}
}

// --at's crash and restart reach the runner's config as its verbs.
func TestAtFlagCarriesNodeFaults(t *testing.T) {
	rf, _, err := parseRunFlags([]string{"--duration", "10s", "--at", "2s:crash=3", "--at", "4s:restart", "--at", "5s:restart=n3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []knob.TimedAction{
		{At: 2 * time.Second, Action: knob.Action{Verb: knob.VerbCrash, Node: "n3"}},
		{At: 4 * time.Second, Action: knob.Action{Verb: knob.VerbRestart}},
		{At: 5 * time.Second, Action: knob.Action{Verb: knob.VerbRestart, Node: "n3"}},
	}
	if !slices.Equal(rf.cfg.At, want) {
		t.Errorf("--at gave %+v, want %+v", rf.cfg.At, want)
	}
}

// --op-timeout and --nemesis reach the runner's config; the chaos
// profile turns every fault on, and --nemesis replaces its list.
func TestOpTimeoutAndNemesisFlags(t *testing.T) {
	rf, _, err := parseRunFlags([]string{"--op-timeout", "750ms", "--nemesis", "kill, delay"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rf.cfg.OpTimeout != 750*time.Millisecond || !slices.Equal(rf.cfg.Nemesis, []string{"kill", "delay"}) {
		t.Errorf("op timeout %v, nemesis %v", rf.cfg.OpTimeout, rf.cfg.Nemesis)
	}
	rf, _, err = parseRunFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rf.cfg.OpTimeout != 5*time.Second || rf.cfg.Nemesis != nil {
		t.Errorf("defaults: op timeout %v, nemesis %v; want 5s and none", rf.cfg.OpTimeout, rf.cfg.Nemesis)
	}
	rf, _, err = parseRunFlags([]string{"--profile", "chaos"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rf.cfg.Nemesis, knob.NemesisFaults) || !slices.Equal(rf.cfg.Suites, []string{"consensus", "txn", "concurrency"}) {
		t.Errorf("chaos: nemesis %v suites %v", rf.cfg.Nemesis, rf.cfg.Suites)
	}
	rf, _, err = parseRunFlags([]string{"--profile", "chaos", "--nemesis", ""}, io.Discard)
	if err != nil || rf.cfg.Nemesis != nil {
		t.Errorf("--nemesis '' over chaos: %v, %v; want no nemesis", rf.cfg.Nemesis, err)
	}
}

func TestFlagsOverrideTheProfile(t *testing.T) {
	rf, _, err := parseRunFlags([]string{"--profile", "seed", "--clients", "3", "--duration", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := rf.cfg
	if c.Clients != 3 || c.Duration != 2*time.Second {
		t.Errorf("flags not applied: clients %d duration %v", c.Clients, c.Duration)
	}
	if c.Nodes != 20 || c.DataSize != 1_000_000 {
		t.Errorf("profile not applied where no flag was given: nodes %d data %d", c.Nodes, c.DataSize)
	}
}

// A violated correctness check is exit code 4, ahead of every other
// outcome; an unknown verdict fails nothing.
func TestOutcomeExitCodes(t *testing.T) {
	violated := []metrics.Check{{Name: "ledger", Suite: "txn", Verdict: metrics.CheckViolated}}
	unknown := []metrics.Check{{Name: "ledger", Suite: "txn", Verdict: metrics.CheckUnknown}}
	failedBaseline := []metrics.BaselineReport{{Pass: false}}
	for _, tc := range []struct {
		name   string
		report metrics.Report
		runErr error
		want   int
	}{
		{"pass", metrics.Report{}, nil, exitPass},
		{"unknown check", metrics.Report{Checks: unknown}, nil, exitPass},
		{"baseline", metrics.Report{Baselines: failedBaseline}, nil, exitViolated},
		{"check", metrics.Report{Checks: violated, Baselines: failedBaseline}, nil, exitCheckFailed},
		{"check of an interrupted run", metrics.Report{Checks: violated, Interrupted: true}, nil, exitCheckFailed},
		{"check of a failed run", metrics.Report{Checks: violated}, errors.New("boom"), exitCheckFailed},
		{"failed run", metrics.Report{}, errors.New("boom"), exitRunFailed},
		{"interrupted", metrics.Report{Interrupted: true}, nil, exitInterrupted},
	} {
		if got := outcome(&tc.report, tc.runErr); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

// run --help documents exit code 4.
func TestRunHelpDocumentsExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	realMain([]string{"run", "--help"}, &out, &errb)
	if !strings.Contains(out.String()+errb.String(), "4 a correctness check failed") {
		t.Errorf("run --help lacks exit code 4:\n%s", out.String())
	}
}

// TestUnwritableCSVFailsTheRun is --csv /dev/full: the rows cannot be
// written, so the run says so and exits 3 rather than 0. The device is one
// of the test's own with /dev/full's numbers, so a regression that renames
// a file over it harms nothing; making one needs root.
func TestUnwritableCSVFailsTheRun(t *testing.T) {
	full := filepath.Join(t.TempDir(), "full")
	if err := syscall.Mknod(full, syscall.S_IFCHR|0o666, 1<<8|7); err != nil {
		t.Skip("cannot make a device node here (needs root):", err)
	}
	var out, errb bytes.Buffer
	code := realMain([]string{"run", "--suites", "consensus", "--nodes", "1", "--clients", "1", "--duration", "500ms", "--csv", full}, &out, &errb)
	if code != exitRunFailed || !strings.Contains(errb.String(), "cannot write "+full) {
		t.Fatalf("exit %d, want %d with the CSV's error; stderr:\n%s", code, exitRunFailed, errb.String())
	}
	if fi, err := os.Stat(full); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("the device was replaced: %v %v", fi.Mode(), err)
	}
}

// TestCPUProfileIsWritten: --cpuprofile leaves a Go CPU profile (gzipped
// protobuf) of the run behind.
func TestCPUProfileIsWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.cpu")
	var out, errb bytes.Buffer
	if code := realMain([]string{"run", "--suites", "consensus", "--duration", "1s", "--cpuprofile", path}, &out, &errb); code != exitPass {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("the profile is %d bytes, not a gzipped pprof profile", len(b))
	}
}

// TestProgressLineWhilePaused: a paused run's progress line says so, and
// not the last measured tick's bottleneck as if it were the idle cluster's.
func TestProgressLineWhilePaused(t *testing.T) {
	for _, paused := range []bool{false, true} {
		var out bytes.Buffer
		p := &progressPrinter{w: &out}
		p.onSnapshot(&metrics.Snapshot{Phase: metrics.PhaseRunning, Elapsed: 2 * time.Second, Paused: paused,
			Bottleneck: metrics.Bottleneck{Line: "CPU-bound: 94% CPU"}})
		line := out.String()
		if got := strings.Contains(line, "CPU-bound"); got == paused {
			t.Errorf("paused=%v: %q", paused, line)
		}
		if got := strings.Contains(line, "paused"); got != paused {
			t.Errorf("paused=%v: %q", paused, line)
		}
	}
}

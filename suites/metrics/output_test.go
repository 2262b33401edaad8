package metrics

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func goldenReport() *Report {
	final := []Verdict{
		{Suite: "consensus", Op: "consensus.submit", Metric: MetricAvgLatency, Limit: 100, Value: 1.5, Unit: "ms", Pass: true},
		{Suite: "consensus", Metric: MetricThroughput, Limit: 1000, Value: 1200, Unit: "ops/s", Pass: true},
	}
	res := Resources{}
	res.CPU.add(Gauge{Value: 50, OK: true})
	res.RSS.add(Gauge{Value: 100 << 20, OK: true})
	res.NetRx.add(Gauge{Value: 2 << 20, OK: true})
	r := NewReport(sampleSnapshot(), final, res)
	r.StartedAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r.EndedAt = r.StartedAt.Add(11 * time.Second)
	r.Settings = map[string]any{"nodes": 3, "clients": 16, "suites": []string{"consensus"}, "baselines": map[string]any{"x": 1}}
	r.Checks = []Check{
		{Name: "linearizable", Suite: "consensus", Verdict: CheckOK, Ops: 41250, Keys: 625, Seconds: 0.4, Detail: "every read saw the last write"},
		{Name: "ledger", Suite: "txn", Verdict: CheckUnknown, Ops: 4700, Keys: 200, Seconds: 3, Detail: "1 transaction of unknown outcome"},
	}
	return r
}

func TestMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, goldenReport()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.md")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if buf.String() != string(want) {
		t.Errorf("markdown differs from %s (go test -update rewrites it):\n%s", golden, buf.String())
	}
}

func TestMarkdownMarksFailuresAndInterruption(t *testing.T) {
	r := goldenReport()
	r.Baselines[1].Pass = false
	r.Interrupted = true
	var buf bytes.Buffer
	WriteMarkdown(&buf, r)
	for _, want := range []string{"FAIL — a baseline was violated (interrupted: partial run)", "| consensus | throughput | > 1,000 ops/s | 1,200 ops/s | **FAIL** |"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestSeriesWritesOneRowPerTickPerRunningOp(t *testing.T) {
	start := time.Unix(1000, 0)
	c, _ := NewCollector([]OpSpec{{Name: "a.x", Suite: "a"}, {Name: "b.x", Suite: "b"}}, 4, start)
	c.Activate(0, 1)
	r := c.NewRecorder(0, 1)
	var buf bytes.Buffer
	sw := NewSeriesWriter(&buf)
	for i := 1; i <= 3; i++ {
		for j := 0; j < i; j++ {
			r.Record(0, time.Duration(i)*time.Millisecond)
		}
		ops := c.Tick(start.Add(time.Duration(i) * time.Second))
		snap := &Snapshot{Seq: uint64(i), Phase: PhaseRunning, Elapsed: time.Duration(i) * time.Second, Ops: ops}
		sw.Add(snap)
		sw.Add(snap) // a repeated snapshot adds nothing
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		SeriesHeader,
		"1.000,a,a.x,1,0,1.0,1.000,1.000,1.000,1.000,1.000,1.000,1.000",
		"2.000,a,a.x,2,0,2.0,2.000,2.000,2.000,2.000,2.000,2.000,2.000",
		"3.000,a,a.x,3,0,3.0,3.000,3.000,3.000,3.000,3.000,3.000,3.000",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("csv:\n%s\nwant:\n%s", buf.String(), strings.Join(want, "\n"))
	}
}

func TestCompareFlagsRegressions(t *testing.T) {
	mk := func(ops map[string]OpReport) *Report {
		return &Report{Schema: ReportSchema, Suites: map[string]SuiteReport{"s": {Ops: ops}}}
	}
	a := mk(map[string]OpReport{
		"s.same":   {OpsPerSec: 1000, LatencyMs: LatencyMs{Avg: 1, P99: 2}},
		"s.slower": {OpsPerSec: 1000, LatencyMs: LatencyMs{Avg: 1, P99: 2}},
		"s.fewer":  {OpsPerSec: 1000, LatencyMs: LatencyMs{Avg: 1, P99: 2}},
		"s.gone":   {OpsPerSec: 1},
	})
	b := mk(map[string]OpReport{
		"s.same":   {OpsPerSec: 1050, LatencyMs: LatencyMs{Avg: 1.05, P99: 2.1}},
		"s.slower": {OpsPerSec: 1000, LatencyMs: LatencyMs{Avg: 1, P99: 2.5}},
		"s.fewer":  {OpsPerSec: 800, LatencyMs: LatencyMs{Avg: 1, P99: 2}},
		"s.new":    {OpsPerSec: 1},
	})
	got := map[string]Delta{}
	for _, d := range Compare(a, b, 0.10) {
		got[d.Op] = d
	}
	if got["s.same"].Regressed || !got["s.slower"].Regressed || !got["s.fewer"].Regressed {
		t.Errorf("regressions: same %v slower %v fewer %v; want false true true", got["s.same"].Regressed, got["s.slower"].Regressed, got["s.fewer"].Regressed)
	}
	if d := got["s.fewer"]; d.Throughput != -0.2 {
		t.Errorf("throughput change %v, want -0.2", d.Throughput)
	}
	if !got["s.gone"].InA || got["s.gone"].InB || got["s.new"].InA || !got["s.new"].InB || got["s.new"].Regressed {
		t.Errorf("one-sided ops wrong: %+v %+v", got["s.gone"], got["s.new"])
	}
	var buf bytes.Buffer
	WriteComparison(&buf, Compare(a, b, 0.10), 0.10)
	for _, want := range []string{"REGRESSED", "-20.0%", "+25.0%", "only in A", "only in B", "2 op(s) regressed by more than 10%"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestReadReportRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "a.txt")
	os.WriteFile(notJSON, []byte("hello"), 0o644)
	otherJSON := filepath.Join(dir, "b.json")
	os.WriteFile(otherJSON, []byte(`{"name":"x"}`), 0o644)
	future := filepath.Join(dir, "c.json")
	os.WriteFile(future, []byte(`{"schema":"phantom.report/v9"}`), 0o644)
	for path, want := range map[string]string{
		notJSON: "is not a phantom report", otherJSON: "is not a phantom report", future: `has report schema "phantom.report/v9"`,
		filepath.Join(dir, "missing.json"): "cannot read report",
	} {
		if _, err := ReadReport(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadReport(%s) = %v, want %q", filepath.Base(path), err, want)
		}
	}
	good := filepath.Join(dir, "r.json")
	WriteFileAtomic(good, func(w io.Writer) error { return WriteJSON(w, goldenReport()) })
	if r, err := ReadReport(good); err != nil || r.Suites["consensus"].Ops["consensus.submit"].Count != 12000 {
		t.Errorf("round trip: %v", err)
	}
}

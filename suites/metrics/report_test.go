package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleSnapshot() *Snapshot {
	return &Snapshot{
		Elapsed: 10 * time.Second,
		Ops: []OpStats{{
			OpSpec: OpSpec{Name: "consensus.submit", Suite: "consensus", Primary: true},
			Total: Figures{Count: 12000, Errors: 3, ErrorsBy: map[string]uint64{"timeout": 3}, OpsPerSec: 1200, Elapsed: 10 * time.Second,
				Latency: Latency{Avg: 1500 * time.Microsecond, Min: 200 * time.Microsecond, Max: 40 * time.Millisecond,
					P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 9 * time.Millisecond, P999: 30 * time.Millisecond}},
		}},
		Events: []Event{
			{At: 3 * time.Second, Kind: EventViolation, Message: "violation: consensus.submit avg latency 132ms ≥ 100ms", Op: "consensus.submit", Metric: MetricAvgLatency, Value: 132, Limit: 100, Unit: "ms"},
			{At: 4 * time.Second, Kind: EventRecovered, Message: "recovered: x"},
		},
		Cluster: Cluster{Nodes: make([]Node, 3), Shards: make([]Shard, 1), LeaderChanges: 1},
	}
}

func TestReportJSONCarriesTheContractFields(t *testing.T) {
	final := []Verdict{{Suite: "consensus", Op: "consensus.submit", Metric: MetricAvgLatency, Limit: 100, Value: 1.5, Unit: "ms", Pass: true}}
	res := Resources{}
	res.CPU.add(Gauge{Value: 50, OK: true})
	res.CPU.add(Gauge{Value: 70, OK: true})
	r := NewReport(sampleSnapshot(), final, res)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "settings", "started_at", "ended_at", "interrupted", "suites", "baselines", "violations", "resources", "events"} {
		if _, ok := got[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	op := got["suites"].(map[string]any)["consensus"].(map[string]any)["ops"].(map[string]any)["consensus.submit"].(map[string]any)
	lat := op["latency_ms"].(map[string]any)
	if op["count"] != 12000.0 || op["errors"] != 3.0 || op["ops_per_sec"] != 1200.0 || lat["avg"] != 1.5 || lat["p999"] != 30.0 {
		t.Errorf("op figures wrong: %v", op)
	}
	cpu := got["resources"].(map[string]any)["cpu"].(map[string]any)
	if m := cpu["machine_percent"].(map[string]any); m["avg"] != 60.0 || m["max"] != 70.0 {
		t.Errorf("cpu = %v, want avg 60 max 70", m)
	}
	if cpu["process_percent"] != nil {
		t.Errorf("unsampled gauge = %v, want null", cpu["process_percent"])
	}
	if v := got["violations"].([]any); len(v) != 1 {
		t.Errorf("violations %v, want the one violation event", v)
	}
	if !r.Passed() {
		t.Error("Passed() = false with every baseline passing")
	}
}

func TestSummaryShowsVerdicts(t *testing.T) {
	final := []Verdict{
		{Suite: "consensus", Op: "consensus.submit", Metric: MetricAvgLatency, Limit: 100, Value: 1.5, Unit: "ms", Pass: true},
		{Suite: "consensus", Metric: MetricThroughput, Limit: 1000, Value: 900, Unit: "ops/s", Pass: false},
	}
	r := NewReport(sampleSnapshot(), final, Resources{})
	var buf bytes.Buffer
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"consensus.submit", "12,000", "1,200", "1.50ms", "PASS  consensus.submit avg latency 1.50ms < 100ms",
		"FAIL  consensus throughput 900 ops/s ≤ 1,000 ops/s", "violations: 1", "cpu n/a", "FAIL: a baseline was violated"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("boom")
	if err := WriteFileAtomic(path, func(w io.Writer) error { w.Write([]byte("half")); return failed }); !errors.Is(err, failed) {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("a failed write changed the file to %q", b)
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("file = %q, want new", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "r.json"), func(io.Writer) error { return nil }); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{FormatDuration(850 * time.Microsecond), "850µs"},
		{FormatDuration(1290 * time.Microsecond), "1.29ms"},
		{FormatDuration(12300 * time.Microsecond), "12.3ms"},
		{FormatDuration(1200 * time.Millisecond), "1.20s"},
		{FormatDuration(0), "0"},
		{FormatCount(71204), "71,204"},
		{FormatCount(42.5), "42.5"},
		{FormatCount(1234567), "1,234,567"},
		{FormatBytes(512), "512B"},
		{FormatBytes(1024), "1.00KiB"},
		{FormatBytes(12.3 * 1024 * 1024), "12.3MiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
	snap := sampleSnapshot()
	for i := range snap.Ops {
		if snap.Ops[i].Name == "consensus.submit" {
			snap.Ops[i].Total.ErrorsBy = map[string]uint64{"other": 152}
			snap.Ops[i].ErrorSamples = map[string]string{"other": "core: put: rpc error: message larger than max"}
		}
	}
	r := NewReport(snap, final, Resources{})
	if got := r.Suites["consensus"].Ops["consensus.submit"].ErrorSamples["other"]; got == "" {
		t.Error("the report's op has no error sample")
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"consensus.submit", "12,000", "1,200", "1.50ms", "PASS  consensus.submit avg latency 1.50ms < 100ms",
		"FAIL  consensus throughput 900 ops/s ≤ 1,000 ops/s", "violations: 1", "cpu n/a", "FAIL: a baseline was violated",
		"errors, one of each kind:\n  consensus.submit other (152): core: put: rpc error: message larger than max"} {
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

// TestWriteFileAtomicToADevice is --csv /dev/full: the write error reaches
// the caller, and the device is still a device afterwards, not a file put
// in its place by a rename.
func TestWriteFileAtomicToADevice(t *testing.T) {
	// A device node of our own with /dev/full's numbers (char 1:7), so a
	// regression renames over a file in a temporary directory, not over
	// the machine's /dev/full. Making one needs root.
	full := filepath.Join(t.TempDir(), "full")
	if err := syscall.Mknod(full, syscall.S_IFCHR|0o666, int(unix1x7())); err != nil {
		t.Skip("cannot make a device node here (needs root):", err)
	}
	err := WriteFileAtomic(full, func(w io.Writer) error { _, err := w.Write([]byte("report")); return err })
	if err == nil {
		t.Fatal("writing to /dev/full succeeded")
	}
	if !strings.Contains(err.Error(), full) {
		t.Errorf("error %q does not name %s", err, full)
	}
	if fi, err := os.Stat(full); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a device: %v %v", full, fi.Mode(), err)
	}

	// The CSV path: rows buffered over the run, the error met at Flush.
	f, err := CreateAtomic(full)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	series := NewSeriesWriter(f)
	if err := series.Flush(); err == nil {
		t.Error("flushing the series to /dev/full succeeded")
	}
}

// TestWriteFileAtomicThroughALink replaces the file a link points to and
// leaves the link a link.
func TestWriteFileAtomicThroughALink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "real.json"), filepath.Join(dir, "link.json")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := WriteFileAtomic(link, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("target = %q, want new", b)
	}
}

// TestWriteFileAtomicToAPipe writes into a named pipe in place.
func TestWriteFileAtomicToAPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	if err := WriteFileAtomic(fifo, func(w io.Writer) error { _, err := w.Write([]byte("rows")); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced by a file (%v, %v); its reader still waits", fi.Mode(), err)
	}
	if s := <-got; s != "rows" {
		t.Errorf("the pipe's reader got %q, want rows", s)
	}
}

// unix1x7 is the device number of /dev/full: major 1, minor 7.
func unix1x7() uint64 { return 1<<8 | 7 }

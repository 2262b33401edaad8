package metrics

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A report's checks reach the JSON with the contract's field names, the
// summary and the Markdown, and a violated one makes the outcome FAIL.
func TestChecksInEveryOutput(t *testing.T) {
	r := goldenReport()
	r.Checks = append(r.Checks, Check{Name: "counters", Suite: "concurrency", Verdict: CheckViolated, Ops: 10, Keys: 64, Seconds: 0.1, Detail: "cc/n/3 is 7, want 6 (+1)"})
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Checks []map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(js.Bytes(), &raw); err != nil || len(raw.Checks) != 3 {
		t.Fatalf("checks in the JSON: %v (%v)", raw.Checks, err)
	}
	for _, f := range []string{"name", "suite", "verdict", "ops", "keys", "seconds", "detail"} {
		if _, ok := raw.Checks[2][f]; !ok {
			t.Errorf("a check in the JSON lacks %q: %v", f, raw.Checks[2])
		}
	}
	if raw.Checks[2]["verdict"] != "violated" {
		t.Errorf("verdict %v, want violated", raw.Checks[2]["verdict"])
	}
	if !r.ChecksFailed() || !strings.HasPrefix(r.Outcome(": "), "FAIL: a correctness check failed") {
		t.Errorf("failed %v, outcome %q", r.ChecksFailed(), r.Outcome(": "))
	}
	var sum, md bytes.Buffer
	WriteSummary(&sum, r)
	WriteMarkdown(&md, r)
	for out, want := range map[*bytes.Buffer][]string{
		&sum: {"checks     1 violated · 1 unknown · 1 ok", "VIOLATED  concurrency.counters violated", "cc/n/3 is 7, want 6"},
		&md:  {"## Correctness checks", "| concurrency | counters | **violated** |"},
	} {
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out.String())
			}
		}
	}
	r.Checks = r.Checks[:2]
	if r.ChecksFailed() || strings.Contains(r.Outcome(": "), "correctness") {
		t.Errorf("ok and unknown checks fail the run: %q", r.Outcome(": "))
	}
}

// A report written before checks existed is still read, with none.
func TestReadReportWithoutChecks(t *testing.T) {
	var js bytes.Buffer
	WriteJSON(&js, goldenReport())
	var m map[string]any
	json.Unmarshal(js.Bytes(), &m)
	delete(m, "checks")
	b, _ := json.Marshal(m)
	path := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(path, b, 0o644)
	r, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Checks) != 0 || r.ChecksFailed() {
		t.Errorf("an old report reads with checks %v", r.Checks)
	}
}

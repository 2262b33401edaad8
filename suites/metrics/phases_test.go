package metrics

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var phaseOps = []OpSpec{
	{Name: "s.put", Suite: "s", Primary: true},
	{Name: "s.put.wait", Suite: "s", PhaseOf: "s.put", Phase: "wait"},
	{Name: "s.put.work", Suite: "s", PhaseOf: "s.put", Phase: "work", Listed: true},
	{Name: "s.other", Suite: "s"},
	// never recorded: a phase that does not happen in the run (the hop to
	// a node process, in embedded mode) stays out of the breakdown
	{Name: "s.put.hop", Suite: "s", PhaseOf: "s.put", Phase: "hop"},
}

// A phase is folded into its op's breakdown, in declared order, and only a
// Listed one stays an op of its own; the report carries the phases with
// their share of the op's time, and the Markdown has a row for each and
// for the rest. A phase never recorded is in none of them.
func TestPhasesFoldIntoTheirOp(t *testing.T) {
	t0 := time.Unix(0, 0)
	c, err := NewCollector(phaseOps, 4, t0)
	if err != nil {
		t.Fatal(err)
	}
	c.Activate(0, len(phaseOps))
	rec := c.NewRecorder(0, len(phaseOps))
	for range 10 {
		rec.Record(0, 10*time.Millisecond)
		rec.Record(1, 3*time.Millisecond)
		rec.Record(2, 5*time.Millisecond)
	}
	ops := c.Tick(t0.Add(time.Second))
	var names []string
	for _, o := range ops {
		names = append(names, o.Name)
	}
	if got := strings.Join(names, " "); got != "s.put s.put.work s.other" {
		t.Fatalf("ops listed: %s; want the hidden phase folded away", got)
	}
	put := ops[0]
	if len(put.Phases) != 2 || put.Phases[0].Name != "wait" || put.Phases[1].Name != "work" {
		t.Fatalf("s.put's phases %+v; want wait then work, and no hop (never recorded)", put.Phases)
	}
	if w := put.Phases[0].Window; w.Count != 10 || w.Latency.Avg != 3*time.Millisecond {
		t.Errorf("wait's window %+v; want 10 of 3 ms", w)
	}

	r := NewReport(&Snapshot{Ops: ops}, nil, Resources{})
	ph := r.Suites["s"].Ops["s.put"].Phases
	if len(ph) != 2 || ph["wait"].Count != 10 || ph["wait"].LatencyMs.Avg != 3 || ph["work"].Order != 1 {
		t.Fatalf("report phases %+v", ph)
	}
	if s := ph["work"].Share; s < 0.499 || s > 0.501 {
		t.Errorf("work's share %v, want 0.5", s)
	}
	if r.Suites["s"].Ops["s.other"].Phases != nil {
		t.Error("an op without phases has phases in the report")
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Suites["s"].Ops["s.put"].Phases["wait"].Count != 10 {
		t.Errorf("phases do not survive JSON: %v", err)
	}
	buf.Reset()
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, row := range []string{"### Where the time goes", "| s.put | wait | 10 | 3.00ms |", "| s.put | work | 10 | 5.00ms |", "| s.put | *other* | | 2.00ms |"} {
		if !strings.Contains(md, row) {
			t.Errorf("Markdown lacks %q:\n%s", row, md)
		}
	}
	if strings.Contains(md, "| hop |") {
		t.Errorf("Markdown has a row for a phase never recorded:\n%s", md)
	}
}

// A phase must be of another op that exists, and be named.
func TestPhaseOfAnUnknownOpIsRefused(t *testing.T) {
	for _, ops := range [][]OpSpec{
		{{Name: "a"}, {Name: "a.x", PhaseOf: "b", Phase: "x"}},
		{{Name: "a", PhaseOf: "a", Phase: "x"}},
		{{Name: "a"}, {Name: "a.x", PhaseOf: "a"}},
	} {
		if _, err := NewCollector(ops, 1, time.Now()); err == nil {
			t.Errorf("NewCollector(%+v) took it", ops)
		}
	}
}

// Recording an op's phases allocates nothing: they are ops like any other.
func TestRecordingPhasesAllocatesNothing(t *testing.T) {
	c, err := NewCollector(phaseOps, 4, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := c.NewRecorder(0, len(phaseOps))
	if n := testing.AllocsPerRun(1000, func() {
		rec.Record(0, 10*time.Millisecond)
		rec.Record(1, 3*time.Millisecond)
		rec.Record(2, 5*time.Millisecond)
	}); n != 0 {
		t.Errorf("recording an op and its phases allocates %v times", n)
	}
}

package knob

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// A knob flag reads the knob's syntax, says whether it was given, and
// passes its value on only then.
func TestValue(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var nodes int
	var size int
	var delay time.Duration = -1
	n := Var(fs, &Nodes, 3, "nodes", func(v int) { nodes = v })
	s := Var(fs, &DataSize, 1024, "size", func(v int) { size = v })
	d := Var(fs, &NetDelay, 0, "delay", func(v time.Duration) { delay = v })
	if err := fs.Parse([]string{"--nodes", "0", "--data-size", "1MB"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []interface{ Apply() }{n, s, d} {
		v.Apply()
	}
	if nodes != 0 || !n.IsSet() || size != 1_000_000 || !s.IsSet() {
		t.Errorf("nodes %d (set %v), size %d (set %v)", nodes, n.IsSet(), size, s.IsSet())
	}
	if d.IsSet() || delay != -1 || d.Value() != 0 {
		t.Errorf("an unset flag applied: delay %v", delay)
	}
	if s.String() != "1MB" || fs.Lookup("data-size").DefValue != "1KiB" || n.Get() != 0 {
		t.Errorf("data-size writes %q, default %q", s.String(), fs.Lookup("data-size").DefValue)
	}
	if n.Type() != "int" || s.Type() != "string" || d.Type() != "duration" {
		t.Errorf("types %s %s %s", n.Type(), s.Type(), d.Type())
	}
	var r *Value[float64]
	if r.String() != "" || (&Value[float64]{}).String() != "" {
		t.Error("a zero Value should write nothing")
	}
	err := fs.Parse([]string{"--net-delay", "soon"})
	if err == nil || !strings.Contains(err.Error(), `invalid value "soon" for flag -net-delay: "soon" is not a duration`) {
		t.Errorf("bad delay: %v", err)
	}
}

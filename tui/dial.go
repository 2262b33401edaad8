package tui

import (
	"errors"
	"strings"
	"time"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites/metrics"
)

// dial is the TUI's control for one knob: a value stepped through values
// that make sense for it, clamped to the knob's limits. A dial with a
// parse func also takes a typed value, read as the knob's flag reads it.
type dial struct {
	name   string
	short  string // the name on the dashboard's one line
	value  int64
	steps  []int64 // ascending: the lower limit, the steps within, the upper limit
	format func(int64) string
	parse  func(string) (int64, error) // nil: ←/→ only
	check  func(int64) error           // the knob's limits, in its words; nil: the steps' ends
	// applied is the value the run has; the dashboard applies value when
	// they differ. The profile knob is never moved during a run.
	applied int64
}

// newDial makes a knob over steps clamped to [lo, hi]; a value between two
// steps (one given by a profile, say) is kept until the user moves it.
func newDial(name string, value, lo, hi int64, steps []int64, format func(int64) string) dial {
	s := []int64{lo}
	for _, v := range steps {
		if v > lo && v < hi {
			s = append(s, v)
		}
	}
	if hi > lo {
		s = append(s, hi)
	}
	v := min(max(value, lo), hi)
	return dial{name: name, short: name, value: v, applied: v, steps: s, format: format}
}

func (k dial) named(short string) dial { k.short = short; return k }

// up moves to the next step above the value; at the upper limit it stays.
func (k dial) up() dial {
	for _, s := range k.steps {
		if s > k.value {
			k.value = s
			return k
		}
	}
	return k
}

// down moves to the next step below the value; at the lower limit it stays.
func (k dial) down() dial {
	for i := len(k.steps) - 1; i >= 0; i-- {
		if s := k.steps[i]; s < k.value {
			k.value = s
			return k
		}
	}
	return k
}

func (k dial) lo() int64     { return k.steps[0] }
func (k dial) hi() int64     { return k.steps[len(k.steps)-1] }
func (k dial) atMin() bool   { return k.value <= k.lo() }
func (k dial) atMax() bool   { return k.value >= k.hi() }
func (k dial) pending() bool { return k.value != k.applied }

// set parses a typed value and checks it against the knob's limits.
func (k dial) set(s string) (dial, error) {
	v, err := k.parse(strings.TrimSpace(s))
	if err != nil {
		return k, errors.New(k.name + ": " + err.Error())
	}
	if k.check != nil {
		if err := k.check(v); err != nil {
			return k, err
		}
	} else if v < k.lo() || v > k.hi() {
		return k, errors.New(k.name + " must be between " + k.format(k.lo()) + " and " + k.format(k.hi()))
	}
	k.value = v
	return k, nil
}

// dialOf is the dial for knob k at value, stepping through steps; it
// reads typed values with the knob's parser, says what is out of range in
// the knob's words, and writes values as the knob does.
func dialOf[T knob.Number](k *knob.Knob[T], value T, steps []int64) dial {
	d := newDial(k.Name, int64(value), int64(k.Min), int64(k.Max), steps, func(v int64) string { return k.Format(T(v)) })
	d.parse = func(s string) (int64, error) {
		// The dashboard writes rates as "5,000/s": take them back as shown.
		v, err := k.Parse(strings.TrimSuffix(strings.ReplaceAll(s, ",", ""), "/s"))
		return int64(v), err
	}
	d.check = func(v int64) error { return k.Check(T(v)) }
	return d
}

// shown writes the dial's value with format, for values that read better
// on screen than in a flag: "closed", "none", "5,000/s".
func (k dial) shown(format func(int64) string) dial { k.format = format; return k }

// formatDelay is a delay dial's value; zero is no shaping at all.
func formatDelay(v int64) string {
	if v == 0 {
		return "none"
	}
	return knob.FormatDuration(time.Duration(v))
}

// formatRate is a rate dial's value: zero is the closed loop.
func formatRate(v int64) string {
	if v == 0 {
		return "closed"
	}
	return metrics.FormatCount(float64(v)) + "/s"
}

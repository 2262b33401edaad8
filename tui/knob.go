package tui

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/phantomdb/phantom/profiles"
)

// knob is one tunable setting stepped through values that make sense for
// it, clamped to the limits the runner accepts. A knob with a parse func
// also takes a typed value.
type knob struct {
	name   string
	short  string // the name on the dashboard's one line
	value  int64
	steps  []int64 // ascending: the lower limit, the steps within, the upper limit
	format func(int64) string
	parse  func(string) (int64, error) // nil: ←/→ only
	// applied is the value the run has; the dashboard applies value when
	// they differ. The profile knob is never moved during a run.
	applied int64
}

// newKnob makes a knob over steps clamped to [lo, hi]; a value between two
// steps (one given by a profile, say) is kept until the user moves it.
func newKnob(name string, value, lo, hi int64, steps []int64, format func(int64) string) knob {
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
	return knob{name: name, short: name, value: v, applied: v, steps: s, format: format}
}

func (k knob) named(short string) knob                      { k.short = short; return k }
func (k knob) typed(parse func(string) (int64, error)) knob { k.parse = parse; return k }

// up moves to the next step above the value; at the upper limit it stays.
func (k knob) up() knob {
	for _, s := range k.steps {
		if s > k.value {
			k.value = s
			return k
		}
	}
	return k
}

// down moves to the next step below the value; at the lower limit it stays.
func (k knob) down() knob {
	for i := len(k.steps) - 1; i >= 0; i-- {
		if s := k.steps[i]; s < k.value {
			k.value = s
			return k
		}
	}
	return k
}

func (k knob) lo() int64     { return k.steps[0] }
func (k knob) hi() int64     { return k.steps[len(k.steps)-1] }
func (k knob) atMin() bool   { return k.value <= k.lo() }
func (k knob) atMax() bool   { return k.value >= k.hi() }
func (k knob) pending() bool { return k.value != k.applied }

// set parses a typed value and checks it against the knob's limits.
func (k knob) set(s string) (knob, error) {
	v, err := k.parse(strings.TrimSpace(s))
	if err != nil {
		return k, errors.New(k.name + ": " + err.Error())
	}
	if v < k.lo() || v > k.hi() {
		return k, errors.New(k.name + " must be between " + k.format(k.lo()) + " and " + k.format(k.hi()))
	}
	k.value = v
	return k, nil
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

// formatDurationKnob prints whole units without trailing zeros: 10s, 1m,
// 1h30m, 500ms.
func formatDurationKnob(v int64) string {
	d := time.Duration(v)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d >= time.Second && d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// formatDelay is a delay knob's value; zero is no shaping at all.
func formatDelay(v int64) string {
	if v == 0 {
		return "none"
	}
	return formatDurationKnob(v)
}

// formatRate is a rate knob's value: zero is the closed loop.
func formatRate(v int64) string {
	if v == 0 {
		return "closed"
	}
	return formatCount(v) + "/s"
}

// formatCount groups thousands: 12,000.
func formatCount(v int64) string {
	s := strconv.FormatInt(v, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// formatSize prints a byte size in the largest binary unit that divides
// it: 64B, 1KiB, 16MiB; 1500B stays 1500B.
func formatSize(v int64) string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if v >= u.n && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10) + "B"
}

// Parsers of typed values, with the units the command line takes.

func parseCount(s string) (int64, error) {
	v, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		return 0, errors.New(strconv.Quote(s) + " is not a whole number")
	}
	return v, nil
}

func parseDuration(s string) (int64, error) {
	d, err := profiles.ParseDuration(s)
	if err != nil {
		return 0, errors.New(strconv.Quote(s) + " is not a duration; write it with a unit, like 30s or 5ms")
	}
	return int64(d), nil
}

func parseSize(s string) (int64, error) {
	v, err := profiles.ParseSize(s)
	if err != nil {
		return 0, errors.New(strconv.Quote(s) + " is not a size; write it like 512B, 4KiB or 1MB")
	}
	return int64(v), nil
}

func parseRate(s string) (int64, error) {
	s = strings.TrimSuffix(strings.ReplaceAll(s, ",", ""), "/s")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v != v {
		return 0, errors.New(strconv.Quote(s) + " is not a rate in ops/s; 0 is the closed loop")
	}
	return int64(v), nil
}

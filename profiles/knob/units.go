package knob

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration such as "500ms", "30s", "2m" or "1h30m";
// a bare "0" is zero. The error says how to write one.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write it with a unit, like 500ms, 30s or 2m", s)
	}
	return v, nil
}

// FormatDuration writes d in its largest whole unit ("2m", "30s", "250ms"),
// or as time.Duration.String does when no single unit is exact, so that
// ParseDuration(FormatDuration(d)) == d always.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "µs"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}

// Size is a number of bytes, written as "512B", "1KiB" or "1MB".
type Size int64

// String writes s in the largest unit that holds it exactly: "1MiB",
// "1MB", "1500B". ParseSize(s.String()) == s always.
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	for _, u := range sizeUnitsDesc {
		if s%Size(u.mult) == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// sizeUnitsDesc are the units String picks from, largest first.
var sizeUnitsDesc = []struct {
	name string
	mult int64
}{
	{"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3},
}

// sizeUnits are the units ParseSize accepts, by lower-case name.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize reads a size such as 512, 512B, 1.5KB, 1KiB, 1MB or 1MiB. KB,
// MB and GB are powers of ten, KiB, MiB and GiB powers of two; a bare
// number is bytes. Units are case-insensitive. The size must be a whole,
// non-negative number of bytes; limits are Check's business.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size; write it like 512B, 1KiB, 64KB or 1MB", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size; write it like 512B, 1KiB, 64KB or 1MB", s)
	}
	n := v * float64(mult)
	if n != math.Trunc(n) {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	if n > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is far too large", s)
	}
	return Size(n), nil
}

func parseInt64Size(s string) (int64, error) {
	v, err := ParseSize(s)
	return int64(v), err
}

func formatInt64Size(v int64) string { return Size(v).String() }

// parseIntSize reads a size that fits an int; a larger one is clamped,
// being out of every int knob's range anyway.
func parseIntSize(s string) (int, error) {
	v, err := ParseSize(s)
	return int(min(v, math.MaxInt32)), err
}

func formatIntSize(v int) string { return Size(v).String() }

// ParseCount reads a whole number such as 50.
func ParseCount(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// ParseRate reads a number of ops/s such as 5000 or 2500.5.
func ParseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of ops/s", s)
	}
	return r, nil
}

// FormatFloat writes v in the shortest form that reads back exactly, never
// with an exponent: "2500", "0.5", "10000000".
func FormatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// UnmarshalText reads a size as ParseSize does, so a Size can be a TOML
// string or a flag.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes s as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

package profiles

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string such as "500ms",
// "30s" or "2m".
type Duration time.Duration

// UnmarshalText reads a Go duration such as "250ms", "30s" or "1m30s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d in its shortest exact form, as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String writes d in its largest whole unit ("2m", "30s", "250ms"), falling
// back to time.Duration's form ("1m30s") when no single unit is exact, so
// that ParseDuration(d.String()) == d always.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

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
// or as time.Duration.String does when no single unit is exact.
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

// Size is a number of bytes, written in TOML as a string such as "512B",
// "1KiB" or "1MB" (or as a bare integer of bytes).
type Size int64

// UnmarshalText reads a size as ParseSize does.
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

// sizeUnits are the units ParseSize accepts, by lower-case name. KB, MB and
// GB are powers of ten, KiB, MiB and GiB powers of two. main parses
// --data-size with ParseSize too, so a size means the same on the command
// line and in a profile.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize reads a size such as 512, 512B, 1.5KB, 1KiB, 1MB or 1MiB. KB,
// MB and GB are powers of ten, KiB, MiB and GiB powers of two; a bare
// number is bytes. Units are case-insensitive. The size must be a whole,
// non-negative number of bytes; ranges are Validate's business.
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

package profiles

import (
	"time"

	"github.com/phantomdb/phantom/profiles/knob"
)

// Duration is a time.Duration written in TOML as a string such as "500ms",
// "30s" or "2m", read and written as package knob does.
type Duration time.Duration

// UnmarshalText reads a Go duration such as "250ms", "30s" or "1m30s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := knob.ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d in its shortest exact form, as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String writes d as knob.FormatDuration does: "2m", "30s", "250ms", or
// "1m30s" when no single unit is exact.
func (d Duration) String() string { return knob.FormatDuration(time.Duration(d)) }

// Size is a number of bytes, written in TOML as a string such as "512B",
// "1KiB" or "1MB" (or as a bare integer of bytes): knob's Size.
type Size = knob.Size

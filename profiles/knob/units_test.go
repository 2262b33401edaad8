package knob

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
	}{
		{"512", 512},
		{"512B", 512},
		{"1KB", 1000},
		{"1kb", 1000},
		{"1.5KB", 1500},
		{"1KiB", 1024},
		{"64KiB", 64 << 10},
		{"1MB", 1_000_000},
		{"1MiB", 1 << 20},
		{"16MiB", 16 << 20},
		{"2GB", 2_000_000_000},
		{"1GiB", 1 << 30},
		{" 4 KiB ", 4096},
		{"0", 0},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "KiB", "1XB", "1TB", "-1KB", "1.5B", "0.3KiB", "1..2MB", "one"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d; want an error", in, got)
		}
	}
}

func TestSizeStringRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{999, "999B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1500B"},
		{1_000_000, "1MB"},
		{1 << 20, "1MiB"},
		{16 << 20, "16MiB"},
		{3 << 30, "3GiB"},
		{5_000_000_000, "5GB"},
		{1024000, "1000KiB"},
	} {
		got := tc.in.String()
		if got != tc.want {
			t.Errorf("Size(%d).String() = %q; want %q", tc.in, got, tc.want)
		}
		back, err := ParseSize(got)
		if err != nil || back != tc.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", got, back, err, tc.in)
		}
		var text Size
		b, _ := tc.in.MarshalText()
		if err := text.UnmarshalText(b); err != nil || text != tc.in {
			t.Errorf("text round trip of %d gave %d, %v", tc.in, text, err)
		}
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{10 * time.Millisecond, "10ms"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Millisecond, "1500ms"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "90s"},
		{2 * time.Minute, "2m"},
		{24 * time.Hour, "24h"},
		{time.Hour + 30*time.Minute, "90m"},
		{1500 * time.Microsecond, "1500µs"},
		{1234567 * time.Nanosecond, "1.234567ms"},
		{-5 * time.Second, "-5s"},
	} {
		got := FormatDuration(tc.in)
		if got != tc.want {
			t.Errorf("FormatDuration(%v) = %q; want %q", tc.in, got, tc.want)
		}
		if d, err := ParseDuration(got); err != nil || d != tc.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, d, err, tc.in)
		}
	}
	for _, in := range []string{"", "30", "30x", "s", "1h30"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v; want an error", in, d)
		}
	}
}

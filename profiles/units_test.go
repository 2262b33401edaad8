package profiles

import (
	"testing"
	"time"
)

// A Duration reads and writes itself as TOML text the way knob formats it.
func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {250 * time.Millisecond, "250ms"}, {90 * time.Second, "90s"}, {2 * time.Minute, "2m"}, {1234567, "1.234567ms"},
	} {
		b, _ := Duration(tc.in).MarshalText()
		if string(b) != tc.want || Duration(tc.in).String() != tc.want {
			t.Errorf("Duration(%v) writes %q; want %q", tc.in, b, tc.want)
		}
		var d Duration
		if err := d.UnmarshalText(b); err != nil || time.Duration(d) != tc.in {
			t.Errorf("text round trip of %v gave %v, %v", tc.in, time.Duration(d), err)
		}
	}
	for _, in := range []string{"", "30", "30x", "s", "1h30"} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("Duration.UnmarshalText(%q) = %v; want an error", in, time.Duration(d))
		}
	}
}

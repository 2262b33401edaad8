package knob

import (
	"slices"
	"strings"
	"testing"
)

func TestParseNemesis(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "kill", want: []string{"kill"}},
		{in: "kill, crash,partition,delay", want: []string{"kill", "crash", "partition", "delay"}},
		{in: "kill,flood", wantErr: `nemesis fault "flood" is unknown; use any of kill, crash, partition, delay, comma-separated`},
		{in: "kill,,crash", wantErr: `nemesis fault "" is unknown`},
		{in: "crash,crash", wantErr: `nemesis fault "crash" is listed twice`},
	} {
		got, err := ParseNemesis(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseNemesis(%q) error %v, want %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || !slices.Equal(got, tc.want)):
			t.Errorf("ParseNemesis(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

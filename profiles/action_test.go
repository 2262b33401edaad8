package profiles

import (
	"strings"
	"testing"
	"time"
)

func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Action
		canon string // String(), when it differs from in
	}{
		{in: "10s:clients=50", want: Action{At: 10 * time.Second, Verb: ActClients, Count: 50}},
		{in: "0s:nodes=7", want: Action{Verb: ActNodes, Count: 7}},
		{in: "1m30s:data-size=64KiB", want: Action{At: 90 * time.Second, Verb: ActDataSize, Size: 64 << 10}, canon: "90s:data-size=64KiB"},
		{in: "5s:rate=2500", want: Action{At: 5 * time.Second, Verb: ActRate, Rate: 2500}},
		{in: "5s:rate=0", want: Action{At: 5 * time.Second, Verb: ActRate}},
		{in: "30s:net-delay=20ms", want: Action{At: 30 * time.Second, Verb: ActNetDelay, Delay: 20 * time.Millisecond}},
		{in: "20s:kill-leader", want: Action{At: 20 * time.Second, Verb: ActKillLeader}},
		{in: "25s:partition=n3", want: Action{At: 25 * time.Second, Verb: ActPartition, Node: "n3"}},
		{in: "25s:partition=3", want: Action{At: 25 * time.Second, Verb: ActPartition, Node: "n3"}, canon: "25s:partition=n3"},
		{in: "35s:heal", want: Action{At: 35 * time.Second, Verb: ActHeal}},
		{in: "12s:crash=n2", want: Action{At: 12 * time.Second, Verb: ActCrash, Node: "n2"}},
		{in: "12s:crash", want: Action{At: 12 * time.Second, Verb: ActCrash}},
		{in: "25s:partition", want: Action{At: 25 * time.Second, Verb: ActPartition}},
		{in: "12s:crash=2", want: Action{At: 12 * time.Second, Verb: ActCrash, Node: "n2"}, canon: "12s:crash=n2"},
		{in: "18s:restart=n2", want: Action{At: 18 * time.Second, Verb: ActRestart, Node: "n2"}},
		{in: "18s:restart=2", want: Action{At: 18 * time.Second, Verb: ActRestart, Node: "n2"}, canon: "18s:restart=n2"},
		{in: "18s:restart", want: Action{At: 18 * time.Second, Verb: ActRestart}},
		{in: "40s:pause", want: Action{At: 40 * time.Second, Verb: ActPause}},
		{in: "45s:resume", want: Action{At: 45 * time.Second, Verb: ActResume}},
	} {
		got, err := ParseAction(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		canon := tc.canon
		if canon == "" {
			canon = tc.in
		}
		if s := got.String(); s != canon {
			t.Errorf("ParseAction(%q).String() = %q; want %q", tc.in, s, canon)
		}
		if again, err := ParseAction(got.String()); err != nil || again != got {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
}

func TestParseActionErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kill-leader", "not TIME:ACTION"},
		{"10:clients=5", "not a duration"},
		{"-5s:heal", "negative"},
		{"10s:kil-leader", `unknown action "kil-leader"`},
		{"10s:clients", "needs a value"},
		{"10s:clients=", "needs a value"},
		{"10s:clients=0", "out of range (1..10000)"},
		{"10s:clients=many", "not a whole number"},
		{"10s:nodes=101", "out of range (1..100)"},
		{"10s:data-size=1XB", "not a size"},
		{"10s:data-size=32MiB", "out of range (1B..16MiB)"},
		{"10s:rate=-1", "out of range"},
		{"10s:rate=fast", "not a number"},
		{"10s:net-delay=20", "not a duration"},
		{"10s:net-delay=11s", "out of range (0s..10s)"},
		{"10s:partition=leader", "not a node"},
		{"10s:partition=n0", "not a node"},
		{"10s:heal=now", "takes no value"},
		{"10s:crash=", "needs a value"},
		{"10s:crash=leader", `crash=leader: "leader" is not a node`},
		{"10s:crash=n101", "not a node"},
		{"10s:restart=", "needs a value"},
		{"10s:restart=all", `restart=all: "all" is not a node`},
		{"10s:reboot", "crash=NODE, restart or restart=NODE"},
	} {
		_, err := ParseAction(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAction(%q) = %v; want an error containing %q", tc.in, err, tc.want)
		}
	}
}

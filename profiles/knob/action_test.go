package knob

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimed(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  TimedAction
		canon string // String(), when it differs from in
	}{
		{in: "10s:clients=50", want: TimedAction{10 * time.Second, Action{Verb: VerbClients, Count: 50}}},
		{in: "0s:nodes=7", want: TimedAction{0, Action{Verb: VerbNodes, Count: 7}}},
		{in: "1m30s:data-size=64KiB", want: TimedAction{90 * time.Second, Action{Verb: VerbDataSize, Size: 64 << 10}}, canon: "90s:data-size=64KiB"},
		{in: "2s:data-size=1MB", want: TimedAction{2 * time.Second, Action{Verb: VerbDataSize, Size: 1_000_000}}},
		{in: "5s:rate=2500", want: TimedAction{5 * time.Second, Action{Verb: VerbRate, Rate: 2500}}},
		{in: "5s:rate=0.5", want: TimedAction{5 * time.Second, Action{Verb: VerbRate, Rate: 0.5}}},
		{in: "30s:net-delay=20ms", want: TimedAction{30 * time.Second, Action{Verb: VerbNetDelay, Delay: 20 * time.Millisecond}}},
		{in: "30s:net-delay=0", want: TimedAction{30 * time.Second, Action{Verb: VerbNetDelay}}, canon: "30s:net-delay=0s"},
		{in: "20s:kill-leader", want: TimedAction{20 * time.Second, Action{Verb: VerbKillLeader}}},
		{in: "25s:partition=n3", want: TimedAction{25 * time.Second, Action{Verb: VerbPartition, Node: "n3"}}},
		{in: "25s:partition=3", want: TimedAction{25 * time.Second, Action{Verb: VerbPartition, Node: "n3"}}, canon: "25s:partition=n3"},
		{in: "25s:partition", want: TimedAction{25 * time.Second, Action{Verb: VerbPartition}}},
		{in: "35s:heal", want: TimedAction{35 * time.Second, Action{Verb: VerbHeal}}},
		{in: "12s:crash=n2", want: TimedAction{12 * time.Second, Action{Verb: VerbCrash, Node: "n2"}}},
		{in: "12s:crash", want: TimedAction{12 * time.Second, Action{Verb: VerbCrash}}},
		{in: "12s:crash=2", want: TimedAction{12 * time.Second, Action{Verb: VerbCrash, Node: "n2"}}, canon: "12s:crash=n2"},
		{in: "18s:restart=n2", want: TimedAction{18 * time.Second, Action{Verb: VerbRestart, Node: "n2"}}},
		{in: "18s:restart=2", want: TimedAction{18 * time.Second, Action{Verb: VerbRestart, Node: "n2"}}, canon: "18s:restart=n2"},
		{in: "18s:restart", want: TimedAction{18 * time.Second, Action{Verb: VerbRestart}}},
		{in: "40s:pause", want: TimedAction{40 * time.Second, Action{Verb: VerbPause}}},
		{in: " 45s : resume ", want: TimedAction{45 * time.Second, Action{Verb: VerbResume}}, canon: "45s:resume"},
	} {
		got, err := ParseTimed(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTimed(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		canon := tc.canon
		if canon == "" {
			canon = tc.in
		}
		if s := got.String(); s != canon {
			t.Errorf("ParseTimed(%q).String() = %q; want %q", tc.in, s, canon)
		}
		if again, err := ParseTimed(got.String()); err != nil || again != got {
			t.Errorf("ParseTimed(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
		if bare, err := ParseAction(got.Action.String()); err != nil || bare != got.Action {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", got.Action.String(), bare, err, got.Action)
		}
	}
}

func TestParseTimedErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kill-leader", "not TIME:ACTION"},
		{"10:clients=5", "not a duration"},
		{"-5s:heal", "negative"},
		{"10s:kil-leader", `unknown action "kil-leader"`},
		{"10s:clients", "needs a value"},
		{"10s:clients=", "needs a value"},
		{"10s:clients=0", "clients=0: clients must be between 1 and 10000, got 0"},
		{"10s:clients=many", `clients=many: "many" is not a whole number`},
		{"10s:nodes=101", "nodes=101: nodes must be between 1 and 100, got 101"},
		{"10s:data-size=1XB", "not a size"},
		{"10s:data-size=32MiB", "data-size=32MiB: data size must be between 1B and 16MiB, got 32MiB"},
		{"10s:rate=-1", "rate=-1: rate must be above 0 and at most 10000000 ops/s, got -1"},
		{"10s:rate=0", "rate=0: rate must be above 0"},
		{"10s:rate=fast", "not a number"},
		{"10s:net-delay=20", "not a duration"},
		{"10s:net-delay=11s", "net-delay=11s: net delay must be between 0s and 10s, got 11s"},
		{"10s:duration=30s", "duration cannot be scripted"},
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
		_, err := ParseTimed(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTimed(%q) = %v; want an error containing %q", tc.in, err, tc.want)
		}
	}
	// A script is told the verbs it may use; duration is not one.
	if _, err := ParseTimed("1s:reboot"); err == nil || strings.Contains(err.Error(), "duration") {
		t.Errorf("ParseTimed(reboot) = %v; want the scripted verbs only", err)
	}
}

// A bare action is what the TUI sends live: duration is one.
func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Action
	}{
		{"duration=30s", Action{Verb: VerbDuration, Delay: 30 * time.Second}},
		{"clients=8", Action{Verb: VerbClients, Count: 8}},
		{"crash", Action{Verb: VerbCrash}},
	} {
		if got, err := ParseAction(tc.in); err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseAction(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"duration=100ms", "duration=100ms: duration must be between 500ms and 24h, got 100ms"},
		{"explode", `unknown action "explode"; actions are clients=N, nodes=N, data-size=SIZE, rate=N, net-delay=D, duration=D, kill-leader`},
		{"pause=1", "pause takes no value; write just pause"},
	} {
		if _, err := ParseAction(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAction(%q) = %v; want %q", tc.in, err, tc.want)
		}
	}
}

// Validate checks actions built in code, as the TUI builds them.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		want string // "" when valid
	}{
		{Action{Verb: VerbClients, Count: 1}, ""},
		{Action{Verb: VerbClients}, "clients=0: clients must be between 1 and 10000, got 0"},
		{Action{Verb: VerbNodes, Count: 100}, ""},
		{Action{Verb: VerbDataSize, Size: 16 << 20}, ""},
		{Action{Verb: VerbDataSize}, "data-size=0B: data size must be between 1B and 16MiB, got 0B"},
		{Action{Verb: VerbRate, Rate: 1}, ""},
		{Action{Verb: VerbRate}, "rate=0: rate must be above 0 and at most 10000000 ops/s, got 0"},
		{Action{Verb: VerbNetDelay}, ""},
		{Action{Verb: VerbDuration, Delay: time.Minute}, ""},
		{Action{Verb: VerbDuration}, "duration=0s: duration must be between 500ms and 24h, got 0s"},
		{Action{Verb: VerbCrash, Node: "n12"}, ""},
		{Action{Verb: VerbCrash, Node: "3"}, `"3" is not a node`},
		{Action{Verb: VerbRestart, Node: "n"}, `"n" is not a node`},
		{Action{Verb: VerbPartition, Node: "n007"}, `"n007" is not a node`},
		{Action{Verb: VerbKillLeader}, ""},
		{Action{Verb: "nope"}, `unknown action "nope"`},
	} {
		err := tc.a.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v.Validate() = %v; want %q", tc.a, err, tc.want)
		}
	}
}

// Every verb that sets a knob is that knob's flag.
func TestVerbsAreFlags(t *testing.T) {
	for verb, flag := range map[string]string{
		VerbClients: Clients.Flag, VerbNodes: Nodes.Flag, VerbDataSize: DataSize.Flag,
		VerbRate: Rate.Flag, VerbNetDelay: NetDelay.Flag, VerbDuration: Duration.Flag,
	} {
		if verb != flag {
			t.Errorf("verb %q, flag %q", verb, flag)
		}
	}
}

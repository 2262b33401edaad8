package knob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Verbs of the live actions: the changes and faults a run takes while it
// goes on, the same from the TUI's keys, a profile's `at` list and --at.
// A verb that sets a knob is that knob's Flag.
const (
	VerbClients    = "clients"     // Count: clients from now on
	VerbNodes      = "nodes"       // Count: nodes from now on (added, or drained and removed)
	VerbDataSize   = "data-size"   // Size: bytes per written value
	VerbRate       = "rate"        // Rate: ops/s of an open-loop run
	VerbNetDelay   = "net-delay"   // Delay: one-way delay on every link
	VerbDuration   = "duration"    // Delay: the running suite's new duration; live only, never scripted
	VerbKillLeader = "kill-leader" // kill the next shard's leader, round robin; it restarts once another leads
	VerbCrash      = "crash"       // Node: crash the whole node abruptly; "" lets the runner pick
	VerbRestart    = "restart"     // Node: restart a crashed node; "" restarts every crashed node
	VerbPartition  = "partition"   // Node: cut the node off from the others; "" lets the runner pick
	VerbHeal       = "heal"        // end every partition
	VerbPause      = "pause"       // hold the clients; clocks stop
	VerbResume     = "resume"      // issue load again
)

// scriptedForms and liveForms list the verbs a script, and a live change,
// may use, as a user writes them, for error messages.
const (
	scriptedForms = "clients=N, nodes=N, data-size=SIZE, rate=N, net-delay=D, kill-leader, crash or crash=NODE, restart or restart=NODE, partition or partition=NODE, heal, pause or resume"
	liveForms     = "clients=N, nodes=N, data-size=SIZE, rate=N, net-delay=D, duration=D, kill-leader, crash or crash=NODE, restart or restart=NODE, partition or partition=NODE, heal, pause or resume"
)

// Action is one live change. Only the field its verb names is read.
//
// For crash and partition, an empty Node lets the runner pick: the node
// that is up (and, for partition, not partitioned already) and leads the
// most shards, so the fault costs elections, among those whose loss
// leaves every shard, and the meta group, a quorum of live replicas.
// Crash refuses a named node whose loss would cost a quorum too, and says
// which shard; a named partition may cost one. For restart, an empty Node
// restarts every crashed node.
type Action struct {
	Verb  string        // one of the Verb constants
	Count int           // N of clients=N and nodes=N
	Size  int           // SIZE of data-size=SIZE, in bytes
	Rate  float64       // N of rate=N, in ops/s
	Delay time.Duration // D of net-delay=D and duration=D
	Node  string        // NODE of crash, restart and partition: a node id such as "n3", or ""
}

// TimedAction is an action scripted at a time since the load started, as
// a profile's `at` list and --at write it: "10s:clients=50".
type TimedAction struct {
	At time.Duration
	Action
}

// ParseAction reads a bare ACTION: "clients=50", "net-delay=20ms",
// "kill-leader", "crash=n2" (or "crash=2"), "crash". Values are checked as
// Validate does. The error says what is wrong without repeating s.
func ParseAction(s string) (Action, error) { return parseAction(s, liveForms) }

// parseAction is ParseAction naming forms as the verbs allowed.
func parseAction(s, forms string) (Action, error) {
	verb, val, hasVal := strings.Cut(strings.TrimSpace(s), "=")
	verb, val = strings.TrimSpace(verb), strings.TrimSpace(val)
	a := Action{Verb: verb}
	needs := func(form string) error {
		if !hasVal || val == "" {
			return fmt.Errorf("%s needs a value; write it like %s", verb, form)
		}
		return nil
	}
	var err error
	switch verb {
	case VerbClients, VerbNodes:
		if err = needs(verb + "=10"); err == nil {
			a.Count, err = Clients.Parse(val)
		}
	case VerbDataSize:
		if err = needs("data-size=64KiB"); err == nil {
			a.Size, err = DataSize.Parse(val)
		}
	case VerbRate:
		if err = needs("rate=5000"); err == nil {
			a.Rate, err = Rate.Parse(val)
		}
	case VerbNetDelay, VerbDuration:
		if err = needs(verb + "=20ms"); err == nil {
			a.Delay, err = NetDelay.Parse(val)
		}
	case VerbPartition, VerbCrash, VerbRestart:
		if !hasVal {
			break // the runner picks
		}
		if err = needs(verb + "=n3"); err == nil {
			a.Node = val
			if n, aerr := strconv.Atoi(strings.TrimPrefix(val, "n")); aerr == nil && n > 0 {
				a.Node = "n" + strconv.Itoa(n) // "3" and "n03" are n3
			}
		}
	case VerbKillLeader, VerbHeal, VerbPause, VerbResume:
		if hasVal {
			return Action{}, fmt.Errorf("%s takes no value; write just %s", verb, verb)
		}
	default:
		return Action{}, fmt.Errorf("unknown action %q; actions are %s", verb, forms)
	}
	if err != nil {
		return Action{}, fmt.Errorf("%s=%s: %v", verb, val, err)
	}
	if err := a.Validate(); err != nil {
		return Action{}, err
	}
	return a, nil
}

// ParseTimed reads "TIME:ACTION", such as "10s:clients=50",
// "30s:net-delay=20ms", "20s:kill-leader", "25s:crash=n2", "25s:crash" or
// "40s:restart". TIME is a duration of zero or more, from the start of the
// load. A script may not change the duration: it is the plan the script's
// times are measured against. The error says what is wrong without
// repeating s.
func ParseTimed(s string) (TimedAction, error) {
	when, act, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return TimedAction{}, fmt.Errorf("not TIME:ACTION; write it like \"20s:kill-leader\" or \"10s:clients=50\"")
	}
	at, err := time.ParseDuration(strings.TrimSpace(when))
	if err != nil {
		return TimedAction{}, fmt.Errorf("time %q is not a duration; write it with a unit, like 10s or 1m30s", when)
	}
	if at < 0 {
		return TimedAction{}, fmt.Errorf("time %s is negative; times count from the start of the run", FormatDuration(at))
	}
	verb, _, _ := strings.Cut(strings.TrimSpace(act), "=")
	if strings.TrimSpace(verb) == VerbDuration {
		return TimedAction{}, fmt.Errorf("duration cannot be scripted; set it with --duration or the profile's duration key")
	}
	a, err := parseAction(act, scriptedForms)
	if err != nil {
		return TimedAction{}, err
	}
	return TimedAction{At: at, Action: a}, nil
}

// Validate checks what can be checked before the action reaches a run:
// the verb, and its value against the knob's limits. Whether the cluster
// has a named node is the runner's to say.
func (a Action) Validate() error {
	var err error
	switch a.Verb {
	case VerbClients:
		err = Clients.Check(a.Count)
	case VerbNodes:
		err = Nodes.Check(a.Count)
	case VerbDataSize:
		err = DataSize.Check(a.Size)
	case VerbRate:
		// A run's loop cannot change live: an open-loop run keeps a rate
		// above 0, and a closed-loop run refuses rate= altogether.
		if !(a.Rate > 0 && a.Rate <= Rate.Max) {
			err = &RangeError{Name: Rate.Name, Got: FormatFloat(a.Rate), Lo: "0", Hi: FormatFloat(Rate.Max), Unit: Rate.Unit, Above: true}
		}
	case VerbNetDelay:
		err = NetDelay.Check(a.Delay)
	case VerbDuration:
		err = Duration.Check(a.Delay)
	case VerbPartition, VerbCrash, VerbRestart:
		if a.Node != "" && !ValidNode(a.Node) {
			return fmt.Errorf("%s=%s: %q is not a node; name one like n3 (n1..n%d), or none to let the runner pick", a.Verb, a.Node, a.Node, MaxNodes)
		}
	case VerbKillLeader, VerbHeal, VerbPause, VerbResume:
	default:
		return fmt.Errorf("unknown action %q; actions are %s", a.Verb, liveForms)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	return nil
}

// ValidNode reports whether id names a node a cluster can have: "n" and a
// number from 1 to MaxNodes, with no leading zero.
func ValidNode(id string) bool {
	n, ok := strings.CutPrefix(id, "n")
	if !ok || n == "" || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
		return false
	}
	k, err := strconv.Atoi(n)
	return err == nil && k >= MinNodes && k <= MaxNodes
}

// String writes a in the form ParseAction reads: "clients=50",
// "data-size=64KiB", "crash" (the runner picks), "crash=n2".
func (a Action) String() string {
	switch a.Verb {
	case VerbClients, VerbNodes:
		return a.Verb + "=" + strconv.Itoa(a.Count)
	case VerbDataSize:
		return a.Verb + "=" + DataSize.Format(a.Size)
	case VerbRate:
		return a.Verb + "=" + FormatFloat(a.Rate)
	case VerbNetDelay, VerbDuration:
		return a.Verb + "=" + FormatDuration(a.Delay)
	case VerbPartition, VerbCrash, VerbRestart:
		if a.Node != "" {
			return a.Verb + "=" + a.Node
		}
	}
	return a.Verb
}

// String writes t in the form ParseTimed reads: "10s:clients=50".
func (t TimedAction) String() string { return FormatDuration(t.At) + ":" + t.Action.String() }

package profiles

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action verbs: the live changes and faults a profile's `at` list and the
// --at flag can schedule, the same ones the TUI's keys send.
const (
	ActClients    = "clients"     // clients=N: set the number of load clients
	ActNodes      = "nodes"       // nodes=N: grow or shrink the cluster
	ActDataSize   = "data-size"   // data-size=SIZE: set the payload of each write
	ActRate       = "rate"        // rate=N: set the target ops/s; 0 is a closed loop
	ActNetDelay   = "net-delay"   // net-delay=D: set the one-way delay of every link
	ActKillLeader = "kill-leader" // crash the replica leading a shard; it restarts once another leads
	ActCrash      = "crash"       // crash=NODE: crash a whole node abruptly; bare crash picks the node leading the most shards
	ActRestart    = "restart"     // restart=NODE: restart a crashed node; bare restart restarts every crashed node
	ActPartition  = "partition"   // partition=NODE: cut a node off the network; bare partition picks as crash does
	ActHeal       = "heal"        // end every partition
	ActPause      = "pause"       // stop issuing load
	ActResume     = "resume"      // issue load again
)

// actionForms lists the verbs as a user writes them, for error messages.
const actionForms = "clients=N, nodes=N, data-size=SIZE, rate=N, net-delay=D, kill-leader, crash or crash=NODE, restart or restart=NODE, partition or partition=NODE, heal, pause or resume"

// Action is one scheduled change, parsed from "TIME:ACTION".
type Action struct {
	// At is when the action happens, measured from the start of the run.
	At time.Duration
	// Verb is one of the Act* constants.
	Verb string
	// Count is N of clients=N (1..10000) and nodes=N (1..100).
	Count int
	// Size is SIZE of data-size=SIZE, in bytes (1B..16MiB).
	Size Size
	// Rate is N of rate=N, in ops/s (0..10000000).
	Rate float64
	// Delay is D of net-delay=D (0..10s).
	Delay time.Duration
	// Node is NODE of crash=NODE, restart=NODE and partition=NODE, a node
	// id such as "n3"; the action may name it "n3" or "3". It is empty
	// for a bare restart, which restarts every crashed node.
	Node string
}

// ParseAction reads "TIME:ACTION", such as "10s:clients=50",
// "30s:net-delay=20ms", "20s:kill-leader", "25s:crash=n2", "25s:crash" or
// "40s:restart". TIME is a duration of zero or more; values are checked
// against the same ranges as the profile's keys.
// The error says what is wrong without repeating s.
func ParseAction(s string) (Action, error) {
	when, act, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Action{}, fmt.Errorf("not TIME:ACTION; write it like \"20s:kill-leader\" or \"10s:clients=50\"")
	}
	at, err := time.ParseDuration(strings.TrimSpace(when))
	if err != nil {
		return Action{}, fmt.Errorf("time %q is not a duration; write it with a unit, like 10s or 1m30s", when)
	}
	if at < 0 {
		return Action{}, fmt.Errorf("time %s is negative; times count from the start of the run", FormatDuration(at))
	}
	verb, val, hasVal := strings.Cut(strings.TrimSpace(act), "=")
	verb, val = strings.TrimSpace(verb), strings.TrimSpace(val)
	a := Action{At: at, Verb: verb}
	needs := func(form string) error {
		if !hasVal || val == "" {
			return fmt.Errorf("%s needs a value; write it like %s", verb, form)
		}
		return nil
	}
	switch verb {
	case ActClients, ActNodes:
		if err := needs(verb + "=10"); err != nil {
			return Action{}, err
		}
		lo, hi := MinClients, MaxClients
		if verb == ActNodes {
			lo, hi = MinNodes, MaxNodes
		}
		n, err := strconv.Atoi(val)
		if err != nil {
			return Action{}, fmt.Errorf("%s=%s: %q is not a whole number", verb, val, val)
		}
		if n < lo || n > hi {
			return Action{}, fmt.Errorf("%s=%d is out of range (%d..%d)", verb, n, lo, hi)
		}
		a.Count = n
	case ActDataSize:
		if err := needs("data-size=64KiB"); err != nil {
			return Action{}, err
		}
		n, err := ParseSize(val)
		if err != nil {
			return Action{}, fmt.Errorf("data-size=%s: %v", val, err)
		}
		if n < MinDataSize || n > MaxDataSize {
			return Action{}, fmt.Errorf("data-size=%s is out of range (%s..%s)", n, Size(MinDataSize), Size(MaxDataSize))
		}
		a.Size = n
	case ActRate:
		if err := needs("rate=5000"); err != nil {
			return Action{}, err
		}
		r, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return Action{}, fmt.Errorf("rate=%s: %q is not a number of ops/s", val, val)
		}
		if !(r >= MinRate && r <= MaxRate) {
			return Action{}, fmt.Errorf("rate=%s is out of range (0..%d, 0 = closed loop)", val, MaxRate)
		}
		a.Rate = r
	case ActNetDelay:
		if err := needs("net-delay=20ms"); err != nil {
			return Action{}, err
		}
		d, err := ParseDuration(val)
		if err != nil {
			return Action{}, fmt.Errorf("net-delay=%s: %v", val, err)
		}
		if d < MinNetDelay || d > MaxNetDelay {
			return Action{}, fmt.Errorf("net-delay=%s is out of range (0s..%s)", FormatDuration(d), FormatDuration(MaxNetDelay))
		}
		a.Delay = d
	case ActPartition, ActCrash, ActRestart:
		if !hasVal {
			// The runner picks: for crash and partition the node leading
			// the most shards (a crash that would cost a shard its quorum
			// is refused), for restart every crashed node.
			break
		}
		if err := needs(verb + "=n3"); err != nil {
			return Action{}, err
		}
		n, err := strconv.Atoi(strings.TrimPrefix(val, "n"))
		if err != nil || n < MinNodes || n > MaxNodes {
			return Action{}, fmt.Errorf("%s=%s: %q is not a node; name one like n3 (n1..n%d)", verb, val, val, MaxNodes)
		}
		a.Node = "n" + strconv.Itoa(n)
	case ActKillLeader, ActHeal, ActPause, ActResume:
		if hasVal {
			return Action{}, fmt.Errorf("%s takes no value; write it like \"20s:%s\"", verb, verb)
		}
	default:
		return Action{}, fmt.Errorf("unknown action %q; actions are %s", verb, actionForms)
	}
	return a, nil
}

// String writes a in the form ParseAction reads, such as "10s:clients=50".
func (a Action) String() string {
	s := FormatDuration(a.At) + ":" + a.Verb
	switch a.Verb {
	case ActClients, ActNodes:
		s += "=" + strconv.Itoa(a.Count)
	case ActDataSize:
		s += "=" + a.Size.String()
	case ActRate:
		s += "=" + formatFloat(a.Rate)
	case ActNetDelay:
		s += "=" + FormatDuration(a.Delay)
	case ActPartition, ActCrash, ActRestart:
		if a.Node != "" {
			s += "=" + a.Node
		}
	}
	return s
}

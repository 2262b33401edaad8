package knob

import (
	"fmt"
	"slices"
	"strings"
)

// The nemesis's faults: random faults the runner injects on its own while
// any suite runs, one at a time, each undone before the next.
const (
	FaultKill      = "kill"      // kill a shard's leader; it restarts once another leads
	FaultCrash     = "crash"     // crash a node, then restart it
	FaultPartition = "partition" // cut a node off, then heal
	FaultDelay     = "delay"     // add a one-way delay on every link, then clear it
)

// NemesisFaults are the faults --nemesis and a profile's nemesis key may
// list, in the order help shows them.
var NemesisFaults = []string{FaultKill, FaultCrash, FaultPartition, FaultDelay}

// Nemesis names the nemesis setting as a flag and a profile key.
var Nemesis = struct{ Name, Key, Flag string }{Name: "nemesis", Key: "nemesis", Flag: "nemesis"}

// ParseNemesis reads a comma-separated list of faults, "kill,crash"; an
// empty string is no nemesis. The error names the bad fault and the good
// ones.
func ParseNemesis(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out, CheckNemesis(out)
}

// CheckNemesis returns nil when every fault in faults is known and listed
// once.
func CheckNemesis(faults []string) error {
	for i, f := range faults {
		if !slices.Contains(NemesisFaults, f) {
			return fmt.Errorf("nemesis fault %q is unknown; use any of %s, comma-separated", f, strings.Join(NemesisFaults, ", "))
		}
		if slices.Contains(faults[:i], f) {
			return fmt.Errorf("nemesis fault %q is listed twice; list each fault once", f)
		}
	}
	return nil
}

package metrics

import (
	"fmt"
	"strings"
)

// CheckVerdict is what a correctness check concluded.
type CheckVerdict string

// The verdicts of a check.
const (
	// CheckOK: the check ran to the end and found nothing wrong.
	CheckOK CheckVerdict = "ok"
	// CheckViolated: the check found a history no correct database could
	// produce, or a ledger that does not add up. The run exits 4.
	CheckViolated CheckVerdict = "violated"
	// CheckUnknown: the check could not decide (its time budget ran out,
	// or an outcome could not be learned); Detail says why. Never read as
	// ok.
	CheckUnknown CheckVerdict = "unknown"
)

// Check is one correctness verdict of a suite, as snapshots, reports and
// front ends carry it: immutable once made.
type Check struct {
	Name    string       `json:"name"`    // what was checked: "linearizable", "ledger", …
	Suite   string       `json:"suite"`   // the suite whose load it checked
	Verdict CheckVerdict `json:"verdict"` // ok, violated or unknown
	Ops     int64        `json:"ops"`     // operations the check covered
	Keys    int          `json:"keys"`    // keys (or accounts, counters) it covered
	Seconds float64      `json:"seconds"` // how long checking took
	// Detail says, in words, what was found: the broken account, the key
	// whose history is not linearizable and where its visualisation was
	// written, or why the verdict is unknown.
	Detail string `json:"detail"`
}

// Failed reports whether the check found a violation.
func (c Check) Failed() bool { return c.Verdict == CheckViolated }

// String is the check in one line: "consensus.linearizable ok: …".
func (c Check) String() string {
	s := fmt.Sprintf("%s.%s %s (%s ops, %s keys, %.1fs)", c.Suite, c.Name, c.Verdict, FormatCount(float64(c.Ops)), FormatCount(float64(c.Keys)), c.Seconds)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// ChecksFailed reports whether any check of the report found a violation:
// exit code 4.
func (r *Report) ChecksFailed() bool { return anyFailed(r.Checks) }

func anyFailed(cs []Check) bool {
	for _, c := range cs {
		if c.Failed() {
			return true
		}
	}
	return false
}

// ChecksLine sums checks up in one line for a dashboard or a summary:
// "3 ok · 1 unknown", or "none yet" when there is none.
func ChecksLine(cs []Check) string {
	if len(cs) == 0 {
		return "none yet"
	}
	n := map[CheckVerdict]int{}
	for _, c := range cs {
		n[c.Verdict]++
	}
	var parts []string
	for _, v := range []CheckVerdict{CheckViolated, CheckUnknown, CheckOK} {
		if n[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[v], v))
		}
	}
	return strings.Join(parts, " · ")
}

package suites

import (
	"fmt"

	"github.com/phantomdb/phantom/suites/metrics"
)

// addChecks records a suite's correctness verdicts for the snapshots and
// the report, each with an event: a violation is an error event (red in
// the TUI), an unknown verdict says why it is one.
func (x *run) addChecks(cs []metrics.Check) {
	for _, c := range cs {
		x.checks = append(x.checks, c)
		kind := metrics.EventInfo
		if c.Failed() {
			kind = metrics.EventError
		}
		x.event(kind, fmt.Sprintf("check %s", c))
	}
}

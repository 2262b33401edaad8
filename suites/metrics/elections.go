package metrics

import (
	"fmt"
	"maps"
	"time"
)

// Elections counts leader elections: those the run caused — a fault or a
// membership change the runner or a suite made, on the shard it acted
// on, within a few election timeouts — apart from spontaneous ones,
// which nothing the run did explains.
type Elections struct {
	Caused      int
	Spontaneous int
	ByCause     map[string]int // caused elections by what caused them: "kill-leader", "node_add", …
	Over        time.Duration  // the time counted over, for the rate
}

// Add counts one election; cause is "" for a spontaneous one.
func (e *Elections) Add(cause string) {
	if cause == "" {
		e.Spontaneous++
		return
	}
	e.Caused++
	if e.ByCause == nil {
		e.ByCause = map[string]int{}
	}
	e.ByCause[cause]++
}

// Clone returns a copy that shares nothing with e.
func (e Elections) Clone() Elections {
	e.ByCause = maps.Clone(e.ByCause)
	return e
}

// SpontaneousPerMinute is the spontaneous elections' rate; 0 over no time.
func (e Elections) SpontaneousPerMinute() float64 {
	if e.Over <= 0 {
		return 0
	}
	return float64(e.Spontaneous) / e.Over.Minutes()
}

// SuiteElections is the elections during one suite's load.
type SuiteElections struct {
	Suite string
	Elections
}

// ElectionsReport is Elections as the report writes it.
type ElectionsReport struct {
	Caused               int            `json:"caused"`
	Spontaneous          int            `json:"spontaneous"`
	PerMinuteSpontaneous float64        `json:"per_minute_spontaneous"`
	ByCause              map[string]int `json:"by_cause,omitempty"`
}

func electionsReport(e Elections) *ElectionsReport {
	return &ElectionsReport{Caused: e.Caused, Spontaneous: e.Spontaneous, PerMinuteSpontaneous: e.SpontaneousPerMinute(), ByCause: e.ByCause}
}

// String is the counts as the summary shows them.
func (e ElectionsReport) String() string {
	return fmt.Sprintf("%d caused, %d spontaneous (%.1f/min)", e.Caused, e.Spontaneous, e.PerMinuteSpontaneous)
}

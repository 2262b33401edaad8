// Package knob defines, once, every setting a user can turn — its name
// as a profile key and as a flag, its limits, its unit, how it is read
// and written, and the one message for a value out of range — and the
// live actions that turn them while a run goes on: their verbs, syntax,
// validation and text.
//
// profiles, suites, the TUI and main all read a knob from here, so a
// flag, a profile key, a TUI control and an --at action accept the same
// values and say the same thing about a bad one. knob imports only the
// standard library.
package knob

import (
	"strconv"
	"time"

	"github.com/phantomdb/phantom/internal/cgroup"
)

// Number is what a knob's value can be.
type Number interface {
	~int | ~int64 | ~float64
}

// Knob is one setting with limits. The zero value is not useful; the
// package's variables are the knobs.
type Knob[T Number] struct {
	// Name is what messages call the knob: "data size".
	Name string
	// Key is the knob's key in a profile file: "data_size".
	Key string
	// Flag is the command-line flag, without dashes, and the verb of the
	// live action that sets the knob, if there is one: "data-size".
	Flag string
	// Min and Max bound the value, both included.
	Min, Max T
	// Zero, when set, says what 0 means: "one per node", "automatic". 0 is
	// accepted even when Min is above it.
	Zero string
	// Unit follows the upper bound in messages: "ops/s", "ticks".
	Unit string

	parse  func(string) (T, error)
	format func(T) string
	size   bool // a number of bytes, written as a size
}

// Parse reads a value as a user writes it; the error says how to write
// one. It does not check the limits: Check does.
func (k *Knob[T]) Parse(s string) (T, error) { return k.parse(s) }

// Format writes v in the form Parse reads: "1KiB", "250ms", "5000".
func (k *Knob[T]) Format(v T) string { return k.format(v) }

// In reports whether v is within k's limits.
func (k *Knob[T]) In(v T) bool {
	return v >= k.Min && v <= k.Max || k.Zero != "" && v == 0
}

// Check returns nil when v is within k's limits, or else a *RangeError
// naming the knob: "nodes must be between 1 and 100, got 0".
func (k *Knob[T]) Check(v T) error { return k.CheckAs(k.Name, v) }

// CheckAs is Check with the knob called name, as the user wrote it: a
// profile file's key, say.
func (k *Knob[T]) CheckAs(name string, v T) error {
	if k.In(v) {
		return nil
	}
	return k.rangeError(name, v)
}

func (k *Knob[T]) rangeError(name string, v T) *RangeError {
	e := &RangeError{Name: name, Got: k.format(v), Lo: k.format(k.Min), Hi: k.format(k.Max), Unit: k.Unit}
	if k.Zero != "" {
		if k.Min == 0 {
			e.Lo += " (" + k.Zero + ")"
		} else {
			e.Or = "0 (" + k.Zero + ")"
		}
	}
	return e
}

// Bounds writes the limits as "LO..HI": "1..100", "1B..16MiB".
func (k *Knob[T]) Bounds() string { return k.format(k.Min) + ".." + k.format(k.Max) }

// Span writes what k accepts, for help and schema text: "1..100",
// "0..256, 0 = one per node", "0 = automatic, or 16MiB..1024GiB".
func (k *Knob[T]) Span() string {
	switch {
	case k.Zero == "":
		return k.Bounds()
	case k.Min == 0:
		return k.Bounds() + ", 0 = " + k.Zero
	}
	return "0 = " + k.Zero + ", or " + k.Bounds()
}

// RangeError is a value out of its limits. Its message is the one every
// part of phantom gives for one: "NAME must be between LO and HI, got V".
type RangeError struct {
	Name   string // the setting as the user wrote it: "clients", "data_size"
	Got    string // the value, formatted
	Lo, Hi string // the limits, formatted, with what a special bound means: "0 (closed loop)"
	Or     string // a value allowed outside [Lo, Hi]: "0 (automatic)"; may be empty
	Unit   string // after Hi: "ops/s"; may be empty
	// Above says Lo itself is excluded: "must be above LO and at most HI".
	Above bool
}

func (e *RangeError) Error() string {
	hi := e.Hi
	if e.Unit != "" {
		hi += " " + e.Unit
	}
	if e.Above {
		return e.Name + " must be above " + e.Lo + " and at most " + hi + ", got " + e.Got
	}
	s := e.Name + " must be "
	if e.Or != "" {
		s += e.Or + " or "
	}
	return s + "between " + e.Lo + " and " + hi + ", got " + e.Got
}

// The limits, as constants for code that needs them at compile time (a
// table of steps, an array size). The knobs below are built from them;
// read a limit from its knob where you can.
const (
	MinNodes, MaxNodes               = 1, 100
	MinShards, MaxShards             = 0, 256 // 0 is one shard per node
	MinClients, MaxClients           = 1, 10_000
	MinDuration, MaxDuration         = 500 * time.Millisecond, 24 * time.Hour
	MinDataSize, MaxDataSize         = 1, 16 << 20   // bytes per written value: 1B to 16MiB
	MinRate, MaxRate                 = 0, 10_000_000 // ops/s; 0 is a closed loop
	MinNetDelay, MaxNetDelay         = time.Duration(0), 10 * time.Second
	MinCount, MaxCount               = 0, 10_000_000 // transactions and queries; 0 is no count limit
	MinTick, MaxTick                 = 10 * time.Millisecond, 10 * time.Second
	MinWindow, MaxWindow             = 1, 240               // ticks
	MinMemoryBudget, MaxMemoryBudget = 16 << 20, 1024 << 30 // bytes; 0 leaves the budget to the engine
	// An op's deadline: at most the 60 s latencies are recorded up to.
	MinOpTimeout, MaxOpTimeout = 10 * time.Millisecond, 60 * time.Second
	DefaultOpTimeout           = 5 * time.Second
	// A node process's CPU quota (--node-cpus), in CPUs: the kernel's
	// smallest (1 ms per 100 ms period) up to a bound far above any
	// machine's; the machine's own CPUs bound it further where it runs
	// (cgroup.ValidateCPUs). 0 is no quota.
	MinNodeCPUs, MaxNodeCPUs = 0.01, 1024
)

// The knobs.
var (
	Nodes = Knob[int]{Name: "nodes", Key: "nodes", Flag: "nodes",
		Min: MinNodes, Max: MaxNodes, parse: ParseCount, format: strconv.Itoa}
	// Shards is how many Raft groups keys are partitioned over.
	Shards = Knob[int]{Name: "shards", Key: "shards", Flag: "shards",
		Min: MinShards, Max: MaxShards, Zero: "one per node", parse: ParseCount, format: strconv.Itoa}
	// Clients is how many load clients run at once.
	Clients = Knob[int]{Name: "clients", Key: "clients", Flag: "clients",
		Min: MinClients, Max: MaxClients, parse: ParseCount, format: strconv.Itoa}
	// Duration is how long each suite runs.
	Duration = Knob[time.Duration]{Name: "duration", Key: "duration", Flag: "duration",
		Min: MinDuration, Max: MaxDuration, parse: ParseDuration, format: FormatDuration}
	// DataSize is the bytes of each written value.
	DataSize = Knob[int]{Name: "data size", Key: "data_size", Flag: "data-size",
		Min: MinDataSize, Max: MaxDataSize, parse: parseIntSize, format: formatIntSize, size: true}
	// Rate is the open loop's target in ops/s; 0 is a closed loop.
	Rate = Knob[float64]{Name: "rate", Key: "rate", Flag: "rate",
		Min: MinRate, Max: MaxRate, Zero: "closed loop", Unit: "ops/s", parse: ParseRate, format: FormatFloat}
	// NetDelay is the one-way delay added to every link.
	NetDelay = Knob[time.Duration]{Name: "net delay", Key: "net_delay", Flag: "net-delay",
		Min: MinNetDelay, Max: MaxNetDelay, parse: ParseDuration, format: FormatDuration}
	// Transactions and Queries bound the txn and query suites.
	Transactions = Knob[int]{Name: "transactions", Key: "transactions", Flag: "transactions",
		Min: MinCount, Max: MaxCount, Zero: "no count limit", parse: ParseCount, format: strconv.Itoa}
	Queries = Knob[int]{Name: "queries", Key: "queries", Flag: "queries",
		Min: MinCount, Max: MaxCount, Zero: "no count limit", parse: ParseCount, format: strconv.Itoa}
	// Tick is how often figures are harvested.
	Tick = Knob[time.Duration]{Name: "tick", Key: "tick", Flag: "tick",
		Min: MinTick, Max: MaxTick, parse: ParseDuration, format: FormatDuration}
	// Window is how many ticks the sliding window spans.
	Window = Knob[int]{Name: "window", Key: "window", Flag: "window",
		Min: MinWindow, Max: MaxWindow, Unit: "ticks", parse: ParseCount, format: strconv.Itoa}
	// MemoryBudget caps the bytes the stored data and Raft logs may use;
	// 0 leaves it to the engine.
	MemoryBudget = Knob[int64]{Name: "memory budget", Key: "memory_budget", Flag: "memory-budget",
		Min: MinMemoryBudget, Max: MaxMemoryBudget, Zero: "automatic", parse: parseInt64Size, format: formatInt64Size, size: true}
	// OpTimeout is every op's deadline: an op still running past it is an
	// error of kind timeout.
	OpTimeout = Knob[time.Duration]{Name: "op timeout", Key: "op_timeout", Flag: "op-timeout",
		Min: MinOpTimeout, Max: MaxOpTimeout, parse: ParseDuration, format: FormatDuration}
	// NodeCPUs is each node process's CPU quota in processes mode; 0 is
	// none.
	NodeCPUs = Knob[float64]{Name: "node CPUs", Key: "node_cpus", Flag: "node-cpus",
		Min: MinNodeCPUs, Max: MaxNodeCPUs, Zero: "no quota", Unit: "CPUs", parse: cgroup.ParseCPUs, format: FormatFloat}
)

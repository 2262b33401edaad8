// Package profiles holds phantom's saved settings: the Profile schema with
// its defaults and limits, the built-in profiles embedded in the binary,
// and loading, validating and saving profile files (TOML).
//
// A profile file needs only the keys it changes; the rest take Default's
// values. Every problem with a file is one line that names the file, the
// line, the key and what is allowed, so a user can fix it without reading
// this code.
//
// The knobs' limits, units and text, and the syntax of the scripted
// actions in `at`, are package knob's, which main, suites and the TUI
// share, so a key, a flag and a TUI control accept the same values. A
// Profile maps onto the runner's configuration, and back, in package
// runconfig: profiles imports neither suites nor the TUI.
package profiles

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phantomdb/phantom/profiles/knob"
)

// Limits of the profile-only settings; the knobs' are package knob's.
const (
	// The Zipf exponent s is above MinZipfS (excluded: the distribution
	// needs s > 1) and at most MaxZipfS.
	MinZipfS, MaxZipfS = 1.0, 5.0
	// MaxLatencyLimit bounds a latency baseline: latencies are recorded up
	// to 60 s, so a higher limit could never be crossed.
	MaxLatencyLimit = 60 * time.Second
	// MaxWarmUp bounds the baseline warm-up.
	MaxWarmUp = time.Hour
)

// Cluster modes; a third is "join=HOST:PORT,...".
const (
	ClusterEmbedded  = "embedded"
	ClusterProcesses = "processes"
)

// checkCluster checks the cluster key's form; the engine checks the rest.
func checkCluster(v string) *Error {
	if v == ClusterEmbedded || v == ClusterProcesses {
		return nil
	}
	if rest, ok := strings.CutPrefix(v, "join="); ok && strings.Contains(rest, ":") {
		return nil
	}
	return problem("cluster", fmt.Sprintf("cluster = %q is not allowed; use \"embedded\", \"processes\" or \"join=HOST:PORT,...\"", v))
}

// Storage modes.
const (
	StorageMemory = "memory" // in-memory Raft log, stable and snapshot stores
	StorageDisk   = "disk"   // on-disk stores with fsync, for realism
)

// Key distributions.
const (
	Uniform = "uniform" // every key equally likely
	Zipfian = "zipfian" // key rank r drawn with probability ∝ 1/r^s
	Hotspot = "hotspot" // HotOpsFraction of ops go to HotFraction of keys
)

// DefaultName is the profile phantom uses when none is named.
const DefaultName = "quick"

// Profile is every setting of a run. In TOML each field is the snake_case
// key in its tag; a missing key keeps Default's value.
type Profile struct {
	// Name names the profile; for a file it defaults to the file name
	// without ".toml". Saved profiles are named NAME.toml.
	Name string `toml:"name"`
	// Description says in a sentence what the profile is for.
	Description string `toml:"description"`
	// Suites are the suites to run, in order; at least one, no repeats.
	// Default ["consensus"].
	Suites []string `toml:"suites"`
	// Nodes is the number of cluster nodes, 1..100. Default 3.
	Nodes int `toml:"nodes"`
	// Shards is the number of shards, 0..256; 0 is one per node. Default 0.
	Shards int `toml:"shards"`
	// Clients is the number of concurrent load clients, 1..10000. Default 8.
	Clients int `toml:"clients"`
	// Duration is how long each suite runs, 500ms..24h. Default 10s.
	Duration Duration `toml:"duration"`
	// DataSize is the payload of each write in bytes, 1B..16MiB. Default 1KiB.
	DataSize Size `toml:"data_size"`
	// Rate is the target rate in ops/s for an open loop, 0..10000000; 0
	// is a closed loop (each client issues its next op when the last
	// returns). Default 0.
	Rate float64 `toml:"rate"`
	// NetDelay is the one-way delay added to every network link, 0..10s.
	// Default 0.
	NetDelay Duration `toml:"net_delay"`
	// Storage is "memory" or "disk". Default "memory".
	Storage string `toml:"storage"`
	// Cluster is where the nodes run: "embedded" (in phantom's process),
	// "processes" (a `phantom node` process each, on this machine) or
	// "join=HOST:PORT,..." (nodes something else started, found from
	// those named). Default "embedded".
	Cluster string `toml:"cluster"`
	// NodeCPUs puts each node process under a CPU quota of this many CPUs
	// (cgroups), with cluster "processes" only; 0.01..the machine's CPUs,
	// 0 for none. Default 0.
	NodeCPUs float64 `toml:"node_cpus"`
	// Transactions bounds the transactions of the txn suite, 0..10000000;
	// 0 leaves it to Duration. Default 5000, as in the seed.
	Transactions int `toml:"transactions"`
	// Queries bounds the queries of the query suite, 0..10000000; 0 leaves
	// it to Duration. Default 5000, as in the seed.
	Queries int `toml:"queries"`
	// Tick is the sampling interval: how often figures are harvested and
	// the screen updated, 10ms..10s. Default 250ms.
	Tick Duration `toml:"tick"`
	// Window is how many ticks the sliding window spans, 1..240. Default 4.
	Window int `toml:"window"`
	// MemoryBudget caps the bytes the stored data and Raft logs may use;
	// 0 leaves it to the engine (a quarter of the machine's memory, at most
	// 4GiB), otherwise 16MiB..1024GiB. Default 0.
	MemoryBudget Size `toml:"memory_budget"`
	// Seed is the base seed of every random generator, so a run can be
	// repeated. Any integer. Default 1.
	Seed int64 `toml:"seed"`
	// OpTimeout is every op's deadline: an op still running past it is an
	// error of kind timeout, 10ms..1m. Default 5s.
	OpTimeout Duration `toml:"op_timeout"`
	// Nemesis lists the random faults injected while every suite runs —
	// any of "kill", "crash", "partition", "delay" — one every few
	// seconds, each undone before the next, never costing a quorum.
	// Default none.
	Nemesis []string `toml:"nemesis"`
	// At are scripted live changes and faults, each "TIME:ACTION" such as
	// "10s:clients=50" or "20s:kill-leader", TIME measured from the start
	// of the run; see knob.ParseTimed. Default none.
	At []string `toml:"at"`
	// Keys is how the keys of the workloads are drawn ([keys] table).
	Keys Keys `toml:"keys"`
	// Baselines are the limits the run is judged against ([baselines] table).
	Baselines Baselines `toml:"baselines"`
}

// Keys is how the workloads draw keys.
type Keys struct {
	// Distribution is "uniform", "zipfian" or "hotspot". Default "uniform".
	Distribution string `toml:"distribution"`
	// ZipfS is the zipfian exponent s, above 1 and at most 5; higher is
	// more skewed. Default 1.1.
	ZipfS float64 `toml:"zipf_s"`
	// HotFraction is the fraction of keys that are hot under "hotspot",
	// above 0 and at most 1. Default 0.1.
	HotFraction float64 `toml:"hot_fraction"`
	// HotOpsFraction is the fraction of ops that go to the hot keys under
	// "hotspot", above 0 and at most 1. Default 0.9.
	HotOpsFraction float64 `toml:"hot_ops_fraction"`
}

// Baselines are the limits a run is judged against. A zero limit is off.
type Baselines struct {
	// MaxAvgLatency is the highest acceptable average latency of every op,
	// 0..60s. Default 100ms, as in the seed.
	MaxAvgLatency Duration `toml:"max_avg_latency"`
	// MaxP99Latency is the highest acceptable p99 latency of every op,
	// 0..60s. Default 0 (off).
	MaxP99Latency Duration `toml:"max_p99_latency"`
	// MinThroughput is the lowest acceptable rate of each suite's primary
	// ops in ops/s, 0..10000000. Default 1000, as in the seed.
	MinThroughput float64 `toml:"min_throughput"`
	// MinScalabilityEfficiency is the lowest acceptable scalability
	// efficiency, X(N) / (N·X(1)), 0..1; 1 is linear. Default 0 (off).
	MinScalabilityEfficiency float64 `toml:"min_scalability_efficiency"`
	// WarmUp is how long a suite runs before its window is judged, so
	// start-up transients raise no violation; 0..1h and shorter than
	// Duration. Default 2s.
	WarmUp Duration `toml:"warm_up"`
}

// Default returns the values a profile key takes when a file leaves it out:
// a small, quick run of the consensus suite with the seed's baselines.
func Default() Profile {
	return Profile{
		Suites:       []string{"consensus"},
		Nodes:        3,
		Shards:       0,
		Clients:      8,
		Duration:     Duration(10 * time.Second),
		DataSize:     1 << 10,
		Rate:         0,
		NetDelay:     0,
		Storage:      StorageMemory,
		Cluster:      ClusterEmbedded,
		Transactions: 5000,
		Queries:      5000,
		Tick:         Duration(250 * time.Millisecond),
		Window:       4,
		Seed:         1,
		OpTimeout:    Duration(knob.DefaultOpTimeout),
		Keys: Keys{
			Distribution:   Uniform,
			ZipfS:          1.1,
			HotFraction:    0.1,
			HotOpsFraction: 0.9,
		},
		Baselines: Baselines{
			MaxAvgLatency: Duration(100 * time.Millisecond),
			MinThroughput: 1000,
			WarmUp:        Duration(2 * time.Second),
		},
	}
}

// Actions parses p.At. Validate has checked them when p came from Parse.
func (p Profile) Actions() ([]knob.TimedAction, error) {
	out := make([]knob.TimedAction, 0, len(p.At))
	for i, s := range p.At {
		a, err := knob.ParseTimed(s)
		if err != nil {
			return nil, &Error{Key: atKey(i), Msg: fmt.Sprintf("%s = %q: %v", atKey(i), s, err), value: s}
		}
		out = append(out, a)
	}
	return out, nil
}

func atKey(i int) string { return "at[" + strconv.Itoa(i) + "]" }

// Validate reports the first problem with p, in field order, as an *Error
// whose message names the key, what is allowed and the value, such as
// `nodes must be between 1 and 100, got 0`, as knob words it. Suite names are only checked for
// shape; which suites exist is the engine's business.
func (p Profile) Validate() error {
	for _, check := range []func() *Error{
		func() *Error {
			if len(p.Suites) == 0 {
				return problem("suites", `suites is empty; list at least one suite, such as ["consensus"]`)
			}
			seen := map[string]bool{}
			for _, s := range p.Suites {
				if s == "" {
					return problem("suites", `suites lists an empty name; list suite names such as ["consensus"]`)
				}
				if seen[s] {
					return problem("suites", fmt.Sprintf("suites lists %q twice; list each suite once", s))
				}
				seen[s] = true
			}
			return nil
		},
		func() *Error { return check(&knob.Nodes, p.Nodes) },
		func() *Error { return check(&knob.Shards, p.Shards) },
		func() *Error { return check(&knob.Clients, p.Clients) },
		func() *Error { return check(&knob.Duration, time.Duration(p.Duration)) },
		func() *Error { return check(&knob.DataSize, int(p.DataSize)) },
		func() *Error { return check(&knob.Rate, p.Rate) },
		func() *Error { return check(&knob.NetDelay, time.Duration(p.NetDelay)) },
		func() *Error {
			return oneOf("storage", p.Storage, StorageMemory, StorageDisk)
		},
		func() *Error { return checkCluster(p.Cluster) },
		func() *Error { return check(&knob.NodeCPUs, p.NodeCPUs) },
		func() *Error {
			if p.NodeCPUs != 0 && p.Cluster != ClusterProcesses {
				return problem(knob.NodeCPUs.Key, fmt.Sprintf("node_cpus = %v needs cluster = %q, got %q: only node processes phantom starts can be put under a quota", p.NodeCPUs, ClusterProcesses, p.Cluster))
			}
			return nil
		},
		func() *Error { return check(&knob.Transactions, p.Transactions) },
		func() *Error { return check(&knob.Queries, p.Queries) },
		func() *Error { return check(&knob.Tick, time.Duration(p.Tick)) },
		func() *Error { return check(&knob.Window, p.Window) },
		func() *Error { return check(&knob.MemoryBudget, int64(p.MemoryBudget)) },
		func() *Error { return check(&knob.OpTimeout, time.Duration(p.OpTimeout)) },
		func() *Error {
			if err := knob.CheckNemesis(p.Nemesis); err != nil {
				return problem(knob.Nemesis.Key, err.Error())
			}
			return nil
		},
		func() *Error {
			for i, s := range p.At {
				if _, err := knob.ParseTimed(s); err != nil {
					return &Error{Key: atKey(i), Msg: fmt.Sprintf("%s = %q: %v", atKey(i), s, err), value: s}
				}
			}
			return nil
		},
		func() *Error {
			return oneOf("keys.distribution", p.Keys.Distribution, Uniform, Zipfian, Hotspot)
		},
		func() *Error {
			if !(p.Keys.ZipfS > MinZipfS && p.Keys.ZipfS <= MaxZipfS) {
				return outOfRange(&knob.RangeError{Name: "keys.zipf_s", Got: knob.FormatFloat(p.Keys.ZipfS),
					Lo: knob.FormatFloat(MinZipfS), Hi: knob.FormatFloat(MaxZipfS), Above: true})
			}
			return nil
		},
		func() *Error { return fraction("keys.hot_fraction", p.Keys.HotFraction) },
		func() *Error { return fraction("keys.hot_ops_fraction", p.Keys.HotOpsFraction) },
		func() *Error {
			return durRange("baselines.max_avg_latency", p.Baselines.MaxAvgLatency, 0, MaxLatencyLimit)
		},
		func() *Error {
			return durRange("baselines.max_p99_latency", p.Baselines.MaxP99Latency, 0, MaxLatencyLimit)
		},
		func() *Error {
			return floatRange("baselines.min_throughput", p.Baselines.MinThroughput, 0, knob.MaxRate, "off", "ops/s")
		},
		func() *Error {
			return floatRange("baselines.min_scalability_efficiency", p.Baselines.MinScalabilityEfficiency, 0, 1, "off", "(linear)")
		},
		func() *Error {
			if e := durRange("baselines.warm_up", p.Baselines.WarmUp, 0, MaxWarmUp); e != nil {
				return e
			}
			if p.Baselines.WarmUp > 0 && p.Baselines.WarmUp >= p.Duration {
				return problem("baselines.warm_up", fmt.Sprintf("baselines.warm_up = %s is not shorter than duration = %s, so nothing would be judged; shorten the warm-up",
					p.Baselines.WarmUp, p.Duration))
			}
			return nil
		},
	} {
		if e := check(); e != nil {
			return e
		}
	}
	return nil
}

func problem(key, msg string) *Error { return &Error{Key: key, Msg: msg} }

// check is knob k's check of v, with the knob called by its profile key.
func check[T knob.Number](k *knob.Knob[T], v T) *Error {
	if err := k.CheckAs(k.Key, v); err != nil {
		return problem(k.Key, err.Error())
	}
	return nil
}

// outOfRange is a profile-only setting out of its limits, worded as knob
// words a knob's.
func outOfRange(e *knob.RangeError) *Error { return problem(e.Name, e.Error()) }

func floatRange(key string, v, lo, hi float64, zero, unit string) *Error {
	if v >= lo && v <= hi {
		return nil
	}
	return outOfRange(&knob.RangeError{Name: key, Got: knob.FormatFloat(v),
		Lo: knob.FormatFloat(lo) + " (" + zero + ")", Hi: knob.FormatFloat(hi), Unit: unit})
}

func durRange(key string, v Duration, lo, hi time.Duration) *Error {
	if time.Duration(v) >= lo && time.Duration(v) <= hi {
		return nil
	}
	return outOfRange(&knob.RangeError{Name: key, Got: v.String(), Lo: knob.FormatDuration(lo), Hi: knob.FormatDuration(hi)})
}

func fraction(key string, v float64) *Error {
	if v > 0 && v <= 1 {
		return nil
	}
	return outOfRange(&knob.RangeError{Name: key, Got: knob.FormatFloat(v), Lo: "0", Hi: "1", Above: true})
}

func oneOf(key, v string, allowed ...string) *Error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return problem(key, fmt.Sprintf("%s = %q is not allowed; use %s", key, v, quoteList(allowed, "or")))
}

// quoteList writes ["a" "b" "c"] as `"a", "b" or "c"`.
func quoteList(items []string, conj string) string {
	s := ""
	for i, it := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			s += " " + conj + " "
		default:
			s += ", "
		}
		s += strconv.Quote(it)
	}
	return s
}

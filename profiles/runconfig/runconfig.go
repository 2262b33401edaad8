// Package runconfig binds profiles to the runner: a profile becomes a
// suites.Config to run, and a config tuned live becomes a profile to save.
// It lives apart so that package profiles needs nothing but the standard
// library and TOML, and the engine knows nothing of profiles.
package runconfig

import (
	"cmp"
	"fmt"
	"time"

	"github.com/phantomdb/phantom/profiles"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Config maps profile p onto a run's configuration and checks it as the engine
// does, which knows what a profile cannot (which suites exist). Settings
// whose machinery is not built yet are refused rather than ignored, so a
// profile never silently runs something other than what it says. The
// error names the profile.
func Config(p profiles.Profile) (suites.Config, error) {
	name := cmp.Or(p.Name, "(unnamed)")
	cfg := suites.DefaultConfig()
	cfg.Profile = p.Name
	cfg.Suites = append([]string(nil), p.Suites...)
	cfg.Nodes = p.Nodes
	cfg.Shards = p.Shards
	cfg.Storage = p.Storage
	cfg.Cluster = p.Cluster
	cfg.NodeCPUs = p.NodeCPUs
	cfg.Rate = p.Rate
	cfg.Transactions, cfg.Queries = p.Transactions, p.Queries
	cfg.KeyDist = suites.KeyDist{Name: p.Keys.Distribution, ZipfS: p.Keys.ZipfS, HotFraction: p.Keys.HotFraction, HotOpsFraction: p.Keys.HotOpsFraction}
	acts, err := p.Actions()
	if err != nil {
		return suites.Config{}, fmt.Errorf("profile %s: %w", name, err)
	}
	cfg.At = acts
	cfg.NetDelay = time.Duration(p.NetDelay)
	cfg.Clients = p.Clients
	cfg.Duration = time.Duration(p.Duration)
	cfg.DataSize = int(p.DataSize)
	cfg.Tick = time.Duration(p.Tick)
	cfg.Window = p.Window
	cfg.MemoryBudget = int64(p.MemoryBudget)
	cfg.Seed = p.Seed
	cfg.OpTimeout = time.Duration(p.OpTimeout)
	cfg.Nemesis = append([]string(nil), p.Nemesis...)
	cfg.Baselines = metrics.Baselines{
		MaxAvgLatency: time.Duration(p.Baselines.MaxAvgLatency),
		MaxP99Latency: time.Duration(p.Baselines.MaxP99Latency),
		MinThroughput: p.Baselines.MinThroughput,
		WarmUp:        time.Duration(p.Baselines.WarmUp),
		MinEfficiency: p.Baselines.MinScalabilityEfficiency,
	}
	if err := cfg.Validate(); err != nil {
		return suites.Config{}, fmt.Errorf("profile %s: %w", name, err)
	}
	return cfg, nil
}

// FromConfig is the profile named name that runs cfg: what the TUI saves
// when a user has tuned a run live and wants to keep the settings. It
// keeps every setting a profile has — suites, nodes, shards, clients,
// duration, data size, rate, network delay, storage, transaction and query
// counts, key distribution, tick, window, memory budget, seed, op timeout,
// nemesis and baselines — so that Config gives cfg back.
//
// It leaves out cfg.At, the scripted changes and faults: they are the
// history of the session the settings came from, and a saved profile
// would replay them on every run. Settings cfg leaves at zero where a
// profile needs a value (storage, the parameters of an unused key
// distribution) take Default's. cfg's fields outside the profile
// (LogOutput, OnSnapshot) are not saved either.
//
// The profile validates when cfg does; check it with Validate before
// saving a config that was never validated.
func FromConfig(name string, cfg suites.Config) profiles.Profile {
	def := profiles.Default()
	p := profiles.Profile{
		Name:         name,
		Suites:       append([]string(nil), cfg.Suites...),
		Nodes:        cfg.Nodes,
		Shards:       cfg.Shards,
		Clients:      cfg.Clients,
		Duration:     profiles.Duration(cfg.Duration),
		DataSize:     profiles.Size(cfg.DataSize),
		Rate:         cfg.Rate,
		NetDelay:     profiles.Duration(cfg.NetDelay),
		Storage:      cmp.Or(cfg.Storage, def.Storage),
		Cluster:      cmp.Or(cfg.Cluster, def.Cluster),
		NodeCPUs:     cfg.NodeCPUs,
		Transactions: cfg.Transactions,
		Queries:      cfg.Queries,
		Tick:         profiles.Duration(cfg.Tick),
		Window:       cfg.Window,
		MemoryBudget: profiles.Size(cfg.MemoryBudget),
		Seed:         cfg.Seed,
		OpTimeout:    profiles.Duration(cmp.Or(cfg.OpTimeout, time.Duration(def.OpTimeout))),
		Nemesis:      append([]string(nil), cfg.Nemesis...),
		Keys: profiles.Keys{
			Distribution:   cmp.Or(cfg.KeyDist.Name, def.Keys.Distribution),
			ZipfS:          cmp.Or(cfg.KeyDist.ZipfS, def.Keys.ZipfS),
			HotFraction:    cmp.Or(cfg.KeyDist.HotFraction, def.Keys.HotFraction),
			HotOpsFraction: cmp.Or(cfg.KeyDist.HotOpsFraction, def.Keys.HotOpsFraction),
		},
		Baselines: profiles.Baselines{
			MaxAvgLatency:            profiles.Duration(cfg.Baselines.MaxAvgLatency),
			MaxP99Latency:            profiles.Duration(cfg.Baselines.MaxP99Latency),
			MinThroughput:            cfg.Baselines.MinThroughput,
			MinScalabilityEfficiency: cfg.Baselines.MinEfficiency,
			WarmUp:                   profiles.Duration(cfg.Baselines.WarmUp),
		},
	}
	if cfg.Profile != "" && cfg.Profile != name {
		p.Description = "Saved from a run of profile " + cfg.Profile + "."
	}
	return p
}

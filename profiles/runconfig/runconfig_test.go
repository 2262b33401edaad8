package runconfig

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/profiles"
	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
)

// FromConfig → Marshal → Parse → Config gives the config back, the
// scripted actions aside, for every built-in and for a config tuned the
// way the TUI tunes one.
func TestFromConfigRoundTrips(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // the built-ins only
	list, err := profiles.List()
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]suites.Config{}
	for _, e := range list {
		p, err := profiles.Find(e.Name)
		if err != nil {
			t.Fatal(err)
		}
		if configs[e.Name], err = Config(p); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
	}
	if len(configs) < 5 {
		t.Fatalf("%d built-in profiles, want every one", len(configs))
	}
	tuned := suites.DefaultConfig()
	tuned.Profile = "quick"
	tuned.Suites = []string{"txn", "concurrency"}
	tuned.Nodes, tuned.Shards, tuned.Clients = 7, 12, 48
	tuned.Duration = 45 * time.Second
	tuned.DataSize = 64 << 10
	tuned.Rate = 2500
	tuned.NetDelay = 3 * time.Millisecond
	tuned.Storage = "disk"
	tuned.Cluster = "processes"
	tuned.Transactions, tuned.Queries = 100, 0
	tuned.KeyDist = suites.KeyDist{Name: "zipfian", ZipfS: 1.4, HotFraction: 0.2, HotOpsFraction: 0.8}
	tuned.Tick = 100 * time.Millisecond
	tuned.Window = 10
	tuned.MemoryBudget = 512 << 20
	tuned.Seed = -42
	tuned.Baselines.MaxP99Latency = 250 * time.Millisecond
	tuned.Baselines.MinEfficiency = 0.6
	tuned.At = []knob.TimedAction{{At: 5 * time.Second, Action: knob.Action{Verb: knob.VerbCrash}}}
	configs["tuned"] = tuned

	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			p := FromConfig("saved", cfg)
			if err := p.Validate(); err != nil {
				t.Fatalf("FromConfig gives a profile that does not validate: %v", err)
			}
			if len(p.At) != 0 {
				t.Errorf("FromConfig kept the scripted actions %v", p.At)
			}
			data, err := profiles.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := profiles.Parse("saved.toml", data)
			if err != nil {
				t.Fatalf("Parse(Marshal(FromConfig)): %v\n%s", err, data)
			}
			got, err := Config(back)
			if err != nil {
				t.Fatal(err)
			}
			want := cfg
			want.Profile, want.At = "saved", nil
			got.At = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the config:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// Zero fields a profile cannot hold take the defaults, and the result
// validates.
func TestFromConfigFillsWhatAProfileNeeds(t *testing.T) {
	cfg := suites.DefaultConfig() // no storage, no key distribution
	p := FromConfig("mine", cfg)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Storage != profiles.StorageMemory || p.Keys != profiles.Default().Keys {
		t.Errorf("storage %q, keys %+v; want the defaults", p.Storage, p.Keys)
	}
}

func TestConfigCarriesActionsAndNamesTheProfile(t *testing.T) {
	p := profiles.Default()
	p.Name = "faults"
	p.Nodes = 5
	p.At = []string{"1s:crash=2", "2s:restart", "3s:restart=n2", "4s:partition=3", "5s:heal"}
	cfg, err := Config(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range cfg.At {
		got = append(got, a.Action.String())
	}
	if want := []string{"crash=n2", "restart", "restart=n2", "partition=n3", "heal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("actions %v, want %v", got, want)
	}

	p.Suites = []string{"nosuch"}
	if _, err := Config(p); err == nil || !strings.HasPrefix(err.Error(), "profile faults: ") || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("err = %v, want one naming the profile and the suite", err)
	}
}

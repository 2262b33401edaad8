package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/profiles/knob"
)

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestEveryBuiltinParsesAndValidates(t *testing.T) {
	for _, name := range builtinNames {
		t.Run(name, func(t *testing.T) {
			data, err := builtinFS.ReadFile("builtin/" + name + ".toml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(name+".toml", data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if p.Name != name {
				t.Errorf("Name = %q; want %q", p.Name, name)
			}
			if p.Description == "" {
				t.Error("no description")
			}
			if _, err := p.Actions(); err != nil {
				t.Errorf("Actions: %v", err)
			}
		})
	}
}

// The built-ins promise particular settings; the seed's come from the seed
// document and must not drift.
func TestBuiltinValues(t *testing.T) {
	find := func(name string) Profile {
		t.Helper()
		t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user profile shadows it
		p, err := Find(name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	seed := find("seed")
	want := Default()
	want.Name = "seed"
	want.Description = seed.Description
	want.Suites = []string{"cluster", "consensus", "txn", "query", "concurrency", "scalability"}
	want.Nodes, want.Clients = 20, 20
	want.Duration = Duration(60 * time.Second)
	want.DataSize = 1_000_000
	want.Transactions, want.Queries = 5000, 5000
	want.Baselines = Baselines{
		MaxAvgLatency:            Duration(100 * time.Millisecond),
		MinThroughput:            1000,
		MinScalabilityEfficiency: 0.9,
		WarmUp:                   Duration(2 * time.Second),
	}
	if !reflect.DeepEqual(seed, want) {
		t.Errorf("seed =\n%+v\nwant\n%+v", seed, want)
	}

	quick := find(DefaultName)
	total := time.Duration(quick.Duration) * time.Duration(len(quick.Suites))
	if total > 40*time.Second || quick.Nodes > 5 || quick.DataSize > 4<<10 {
		t.Errorf("quick is not quick: %d suites × %s, %d nodes, %s values", len(quick.Suites), quick.Duration, quick.Nodes, quick.DataSize)
	}

	demo := find("demo")
	acts, err := demo.Actions()
	if err != nil {
		t.Fatal(err)
	}
	verbs := map[string]bool{}
	for i, a := range acts {
		verbs[a.Verb] = true
		if a.At >= time.Duration(demo.Duration) {
			t.Errorf("demo action %s comes after the run ends (%s)", a, demo.Duration)
		}
		if i > 0 && a.At < acts[i-1].At {
			t.Errorf("demo action %s is out of order", a)
		}
	}
	for _, v := range []string{knob.VerbClients, knob.VerbKillLeader, knob.VerbPartition, knob.VerbHeal} {
		if !verbs[v] {
			t.Errorf("demo's story has no %s", v)
		}
	}
	if f := find("formal"); f.Storage != StorageDisk || f.Seed == 0 || f.Baselines.MaxP99Latency == 0 {
		t.Errorf("formal should run on disk with a fixed seed and a p99 baseline: %+v", f)
	}
	if s := find("stress"); s.Clients < 100 {
		t.Errorf("stress has only %d clients", s.Clients)
	}
}

func TestMissingKeysTakeDefaults(t *testing.T) {
	p, err := Parse("few.toml", []byte("nodes = 7\n[baselines]\nmax_p99_latency = \"300ms\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "few"
	want.Nodes = 7
	want.Baselines.MaxP99Latency = Duration(300 * time.Millisecond)
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got\n%+v\nwant\n%+v", p, want)
	}
}

func TestParseAcceptsOtherSpellings(t *testing.T) {
	p, err := Parse("x.toml", []byte(`
data_size = 2048          # a bare integer is bytes
keys = { distribution = "hotspot", hot_fraction = 0.05 }
baselines.warm_up = "1s"  # a dotted key instead of a table
at = ['5s:pause', "6s:resume"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.DataSize != 2048 || p.Keys.Distribution != Hotspot || p.Keys.HotFraction != 0.05 ||
		p.Keys.HotOpsFraction != 0.9 || p.Baselines.WarmUp != Duration(time.Second) || len(p.At) != 2 {
		t.Errorf("got %+v", p)
	}
}

func TestBadProfiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		line int
		key  string
		want string // part of the message: what is allowed
	}{
		{"malformed", "nodes = 3\nclients = [\n", 2, "clients", "malformed TOML"},
		{"duplicate key", "nodes = 3\nnodes = 4\n", 2, "nodes", "already been defined"},
		{"unknown key", "# mine\nnodez = 3\n", 2, "nodez", `(did you mean "nodes"?); known keys: name, description, suites, nodes`},
		{"unknown key in table", "[keys]\ndistribution = \"zipfian\"\nzipf = 1.5\n", 3, "keys.zipf", `(did you mean "keys.zipf_s"?); known keys in [keys]: distribution, zipf_s`},
		{"unknown table", "nodes = 3\n\n[limits]\nmax = 1\n", 3, "limits", "known keys: name"},
		{"wrong type int", "nodes = \"five\"\n", 1, "nodes", "nodes must be an integer (1..100), not a string"},
		{"wrong type float", "clients = 2.5\n", 1, "clients", "must be an integer (1..10000), not a float"},
		{"wrong type array", "suites = \"consensus\"\n", 1, "suites", "must be an array of suite names"},
		{"wrong type in table", "[baselines]\nmin_throughput = \"fast\"\n", 2, "baselines.min_throughput", "must be a number of ops/s (0..10000000, 0 = off), not a string"},
		{"nodes too low", "nodes = 0\n", 1, "nodes", "nodes must be between 1 and 100, got 0"},
		{"nodes too high", "\nnodes = 100000\n", 2, "nodes", "nodes must be between 1 and 100, got 100000"},
		{"shards", "shards = 300\n", 1, "shards", "shards must be between 0 (one per node) and 256, got 300"},
		{"clients", "clients = -1\n", 1, "clients", "clients must be between 1 and 10000, got -1"},
		{"duration short", "duration = \"100ms\"\n", 1, "duration", "duration must be between 500ms and 24h, got 100ms"},
		{"duration negative", "duration = \"-5s\"\n", 1, "duration", "duration must be between 500ms and 24h, got -5s"},
		{"bad duration", "nodes = 3\nduration = \"30\"\n", 2, "duration", `duration = "30" is not a duration; write it with a unit`},
		{"data size too big", "data_size = \"32MiB\"\n", 1, "data_size", "data_size must be between 1B and 16MiB, got 32MiB"},
		{"data size zero", "data_size = 0\n", 1, "data_size", "data_size must be between 1B and 16MiB, got 0B"},
		{"bad size", "data_size = \"1XB\"\n", 1, "data_size", `data_size = "1XB" is not a size; write it like 512B, 1KiB`},
		{"rate", "rate = 2e7\n", 1, "rate", "rate must be between 0 (closed loop) and 10000000 ops/s, got 20000000"},
		{"net delay", "net_delay = \"11s\"\n", 1, "net_delay", "net_delay must be between 0s and 10s, got 11s"},
		{"storage", "storage = \"ssd\"\n", 1, "storage", `storage = "ssd" is not allowed; use "memory" or "disk"`},
		{"transactions", "transactions = 20000000\n", 1, "transactions", "transactions must be between 0 (no count limit) and 10000000, got 20000000"},
		{"queries", "queries = -1\n", 1, "queries", "queries must be between 0 (no count limit) and 10000000, got -1"},
		{"tick", "tick = \"5ms\"\n", 1, "tick", "tick must be between 10ms and 10s, got 5ms"},
		{"window", "window = 0\n", 1, "window", "window must be between 1 and 240 ticks, got 0"},
		{"memory budget", "memory_budget = \"1MiB\"\n", 1, "memory_budget", "memory_budget must be 0 (automatic) or between 16MiB and 1024GiB, got 1MiB"},
		{"op timeout too short", "op_timeout = \"1ms\"\n", 1, "op_timeout", "op_timeout must be between 10ms and 1m, got 1ms"},
		{"op timeout too long", "op_timeout = \"2m\"\n", 1, "op_timeout", "op_timeout must be between 10ms and 1m, got 2m"},
		{"nemesis unknown fault", "nemesis = [\"kill\", \"flood\"]\n", 1, "nemesis", `nemesis fault "flood" is unknown; use any of kill, crash, partition, delay, comma-separated`},
		{"nemesis twice", "nemesis = [\"kill\", \"kill\"]\n", 1, "nemesis", `nemesis fault "kill" is listed twice`},
		{"empty suites", "suites = []\n", 1, "suites", "suites is empty"},
		{"repeated suite", "suites = [\"consensus\", \"consensus\"]\n", 1, "suites", `suites lists "consensus" twice`},
		{"bad distribution", "[keys]\ndistribution = \"gaussian\"\n", 2, "keys.distribution", `keys.distribution = "gaussian" is not allowed; use "uniform", "zipfian" or "hotspot"`},
		{"zipf s", "[keys]\nzipf_s = 1.0\n", 2, "keys.zipf_s", "keys.zipf_s must be above 1 and at most 5, got 1"},
		{"hot fraction", "keys.hot_fraction = 0\n", 1, "keys.hot_fraction", "keys.hot_fraction must be above 0 and at most 1, got 0"},
		{"hot ops fraction", "[keys]\n\nhot_ops_fraction = 1.5\n", 3, "keys.hot_ops_fraction", "keys.hot_ops_fraction must be above 0 and at most 1, got 1.5"},
		{"avg latency", "[baselines]\nmax_avg_latency = \"2m\"\n", 2, "baselines.max_avg_latency", "baselines.max_avg_latency must be between 0s and 1m, got 2m"},
		{"p99 latency", "[baselines]\nmax_p99_latency = \"-1ms\"\n", 2, "baselines.max_p99_latency", "baselines.max_p99_latency must be between 0s and 1m, got -1ms"},
		{"throughput", "[baselines]\nmin_throughput = -5\n", 2, "baselines.min_throughput", "baselines.min_throughput must be between 0 (off) and 10000000 ops/s, got -5"},
		{"efficiency", "[baselines]\nmin_scalability_efficiency = 1.2\n", 2, "baselines.min_scalability_efficiency", "baselines.min_scalability_efficiency must be between 0 (off) and 1 (linear), got 1.2"},
		{"warm up too long", "duration = \"5s\"\n[baselines]\nwarm_up = \"5s\"\n", 3, "baselines.warm_up", "not shorter than duration = 5s"},
		{"warm up not a duration", "[baselines]\nwarm_up = 5\n", 2, "baselines.warm_up", "is not a duration"},
		{"bad at action", "at = [\n  \"10s:clients=50\",\n  \"20s:kil-leader\",\n]\n", 3, "at[1]", `at[1] = "20s:kil-leader": unknown action "kil-leader"; actions are clients=N`},
		{"bad at shape", "at = [\"kill-leader\"]\n", 1, "at[0]", "not TIME:ACTION"},
		{"bad at time", "nodes = 3\nat = [\"-1s:heal\"]\n", 2, "at[0]", "negative"},
		{"bad at value", "at = [\"1s:clients=0\"]\n", 1, "at[0]", `at[0] = "1s:clients=0": clients=0: clients must be between 1 and 10000, got 0`},
		{"inline table", "keys = { distribution = \"x\" }\n", 1, "keys.distribution", "is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			msg := err.Error()
			prefix := "bad.toml:" + strconv.Itoa(tc.line) + ": "
			if e.File != "bad.toml" || e.Line != tc.line || e.Key != tc.key || !strings.HasPrefix(msg, prefix) {
				t.Errorf("got file %q line %d key %q in %q; want line %d key %q", e.File, e.Line, e.Key, msg, tc.line, tc.key)
			}
			if !strings.Contains(msg, tc.key) {
				t.Errorf("%q does not name the key %q", msg, tc.key)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("%q is more than one line", msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.toml")
	if err := os.WriteFile(path, []byte("clients = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil || p.Name != "mine" || p.Clients != 3 {
		t.Errorf("Load = %+v, %v", p, err)
	}

	missing := filepath.Join(dir, "nope.toml")
	_, err = Load(missing)
	if err == nil || !errors.Is(err, os.ErrNotExist) || err.Error() != missing+": no such profile file" {
		t.Errorf("Load(missing) = %v", err)
	}

	if err := os.WriteFile(path, []byte("clients = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+":1: clients must be between 1 and 10000, got 0") {
		t.Errorf("Load(bad) = %v; want the path and line first", err)
	}
}

// Every key of Profile has a schema entry, so a wrong-type error always
// says what the key takes.
func TestSchemaCoversEveryKey(t *testing.T) {
	var walk func(prefix string, keys []string)
	walk = func(prefix string, keys []string) {
		for _, k := range keys {
			full := prefix + k
			if schema[full] == "" {
				t.Errorf("schema has no entry for %q", full)
			}
			if sub := knownKeys(full); sub != nil {
				walk(full+".", sub)
			}
		}
	}
	walk("", knownKeys(""))
}

func TestValidateNamesKeyValueAndRange(t *testing.T) {
	p := Default()
	p.Clients = 20000
	err := p.Validate()
	var e *Error
	if !errors.As(err, &e) || e.Key != "clients" || err.Error() != "clients must be between 1 and 10000, got 20000" {
		t.Errorf("Validate() = %v (%#v)", err, e)
	}
	p = Default()
	p.At = []string{"5s:heal", "oops"}
	if err := p.Validate(); err == nil || err.Error() != `at[1] = "oops": not TIME:ACTION; write it like "20s:kill-leader" or "10s:clients=50"` {
		t.Errorf("Validate() = %v", err)
	}
}

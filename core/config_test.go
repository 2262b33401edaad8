package core

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" for a valid config
	}{
		{"default", func(*Config) {}, ""},
		{"one node", func(c *Config) { c.Nodes = 1 }, ""},
		{"max nodes", func(c *Config) { c.Nodes = MaxNodes }, ""},
		{"no nodes", func(c *Config) { c.Nodes = 0 }, "nodes must be between 1 and 100, got 0"},
		{"too many nodes", func(c *Config) { c.Nodes = 101 }, "nodes must be between 1 and 100, got 101"},
		{"zero heartbeat", func(c *Config) { c.HeartbeatTimeout = 0 }, "heartbeat timeout must be at least 5ms"},
		{"negative election", func(c *Config) { c.ElectionTimeout = -time.Second }, "election timeout must be at least 5ms"},
		{"zero lease", func(c *Config) { c.LeaderLeaseTimeout = 0 }, "leader lease timeout must be at least 5ms"},
		{"zero commit", func(c *Config) { c.CommitTimeout = 0 }, "commit timeout must be at least 1ms"},
		{"zero op timeout", func(c *Config) { c.OpTimeout = 0 }, "op timeout must be positive"},
		{"negative op timeout", func(c *Config) { c.OpTimeout = -time.Second }, "op timeout must be positive"},
		{"zero snapshot interval", func(c *Config) { c.SnapshotInterval = 0 }, "snapshot interval must be at least 5ms"},
		{"zero snapshot threshold", func(c *Config) { c.SnapshotThreshold = 0 }, "snapshot threshold must be at least 1"},
		{"lease longer than heartbeat", func(c *Config) { c.LeaderLeaseTimeout = 100 * time.Millisecond }, "leader lease timeout (100ms) must not be longer than the heartbeat timeout (50ms)"},
		{"max nodes below nodes", func(c *Config) { c.Nodes, c.MaxNodes = 5, 4 }, "max nodes must be between nodes (5) and 100"},
		{"max nodes zero", func(c *Config) { c.MaxNodes = 0 }, ""},
		{"zero heartbeat interval", func(c *Config) { c.HeartbeatInterval = 0 }, "heartbeat interval must be positive"},
		{"suspect before heartbeat", func(c *Config) { c.SuspectAfter = 100 * time.Millisecond }, "suspect-after (100ms) must be longer than the heartbeat interval (100ms)"},
		{"down before suspect", func(c *Config) { c.DownAfter = 200 * time.Millisecond }, "down-after (200ms) must not be shorter than suspect-after (300ms)"},
		{"election shorter than heartbeat", func(c *Config) { c.ElectionTimeout = 20 * time.Millisecond }, "election timeout (20ms) must not be shorter than the heartbeat timeout (50ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("Validate(Config{}) = nil")
	}
	for _, want := range []string{"nodes", "heartbeat", "election", "lease", "commit", "op timeout", "snapshot interval", "snapshot threshold"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

// TestLoadScale: raft's timeouts, the commit timeout included, grow with the replicas per core for the
// seed's 20 nodes × 20 shards, and not at all for the 3-node default or a
// one-shard cluster on two cores.
func TestLoadScale(t *testing.T) {
	def := DefaultConfig()
	if s := def.loadScale(2); s != 1 {
		t.Errorf("3-node default on 2 cores: scale %v, want 1", s)
	}
	one := DefaultConfig()
	one.Shards = 1
	if s := one.loadScale(1); s != 1 {
		t.Errorf("1 shard on 1 core: scale %v, want 1", s)
	}
	seed := DefaultConfig()
	seed.Nodes, seed.Shards = 20, 20
	s2, s8 := seed.loadScale(2), seed.loadScale(8)
	if s2 <= 1 || s8 >= s2 {
		t.Errorf("seed: scale %v on 2 cores, %v on 8; want it above 1 and shrinking with cores", s2, s8)
	}
	seed.timeScale = s2
	if got := seed.timeoutsFor(0, 0).lease; got <= seed.LeaderLeaseTimeout {
		t.Errorf("seed's lease %v did not grow from %v", got, seed.LeaderLeaseTimeout)
	}
	if got := seed.commitTimeout(); got <= seed.CommitTimeout {
		t.Errorf("seed's commit timeout %v did not grow from %v", got, seed.CommitTimeout)
	}
	def.timeScale = def.loadScale(2)
	if got := def.commitTimeout(); got != def.CommitTimeout {
		t.Errorf("3-node default's commit timeout %v, want %v as configured", got, def.CommitTimeout)
	}
}

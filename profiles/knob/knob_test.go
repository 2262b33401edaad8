package knob

import (
	"math"
	"testing"
	"time"
)

// check runs one knob's table: each value in, or out with its message.
func checkKnob[T Number](t *testing.T, k *Knob[T], in []T, out map[T]string) {
	t.Helper()
	for _, v := range in {
		if err := k.Check(v); err != nil {
			t.Errorf("%s.Check(%v) = %v; want nil", k.Name, v, err)
		}
	}
	for v, want := range out {
		if err := k.Check(v); err == nil || err.Error() != want {
			t.Errorf("%s.Check(%v) = %v; want %q", k.Name, v, err, want)
		}
	}
}

func TestKnobLimits(t *testing.T) {
	t.Run("nodes", func(t *testing.T) {
		checkKnob(t, &Nodes, []int{1, 3, 100}, map[int]string{0: "nodes must be between 1 and 100, got 0", 101: "nodes must be between 1 and 100, got 101"})
	})
	t.Run("shards", func(t *testing.T) {
		checkKnob(t, &Shards, []int{0, 1, 256}, map[int]string{-1: "shards must be between 0 (one per node) and 256, got -1", 257: "shards must be between 0 (one per node) and 256, got 257"})
	})
	t.Run("clients", func(t *testing.T) {
		checkKnob(t, &Clients, []int{1, 10_000}, map[int]string{0: "clients must be between 1 and 10000, got 0", 10_001: "clients must be between 1 and 10000, got 10001"})
	})
	t.Run("duration", func(t *testing.T) {
		checkKnob(t, &Duration, []time.Duration{500 * time.Millisecond, 24 * time.Hour},
			map[time.Duration]string{499 * time.Millisecond: "duration must be between 500ms and 24h, got 499ms", -5 * time.Second: "duration must be between 500ms and 24h, got -5s", 25 * time.Hour: "duration must be between 500ms and 24h, got 25h"})
	})
	t.Run("data size", func(t *testing.T) {
		checkKnob(t, &DataSize, []int{1, 1 << 10, 16 << 20}, map[int]string{0: "data size must be between 1B and 16MiB, got 0B", 16<<20 + 1: "data size must be between 1B and 16MiB, got 16777217B", 32 << 20: "data size must be between 1B and 16MiB, got 32MiB"})
	})
	t.Run("rate", func(t *testing.T) {
		checkKnob(t, &Rate, []float64{0, 0.5, 10_000_000}, map[float64]string{-1: "rate must be between 0 (closed loop) and 10000000 ops/s, got -1", 2e7: "rate must be between 0 (closed loop) and 10000000 ops/s, got 20000000"})
		if Rate.Check(math.NaN()) == nil {
			t.Error("rate NaN accepted")
		}
	})
	t.Run("net delay", func(t *testing.T) {
		checkKnob(t, &NetDelay, []time.Duration{0, 10 * time.Second}, map[time.Duration]string{-time.Millisecond: "net delay must be between 0s and 10s, got -1ms", 11 * time.Second: "net delay must be between 0s and 10s, got 11s"})
	})
	t.Run("transactions", func(t *testing.T) {
		checkKnob(t, &Transactions, []int{0, 10_000_000}, map[int]string{-1: "transactions must be between 0 (no count limit) and 10000000, got -1"})
	})
	t.Run("queries", func(t *testing.T) {
		checkKnob(t, &Queries, []int{0, 5000}, map[int]string{10_000_001: "queries must be between 0 (no count limit) and 10000000, got 10000001"})
	})
	t.Run("tick", func(t *testing.T) {
		checkKnob(t, &Tick, []time.Duration{10 * time.Millisecond, 10 * time.Second}, map[time.Duration]string{time.Millisecond: "tick must be between 10ms and 10s, got 1ms"})
	})
	t.Run("window", func(t *testing.T) {
		checkKnob(t, &Window, []int{1, 240}, map[int]string{0: "window must be between 1 and 240 ticks, got 0", 241: "window must be between 1 and 240 ticks, got 241"})
	})
	t.Run("memory budget", func(t *testing.T) {
		checkKnob(t, &MemoryBudget, []int64{0, 16 << 20, 1024 << 30}, map[int64]string{1 << 20: "memory budget must be 0 (automatic) or between 16MiB and 1024GiB, got 1MiB", -1: "memory budget must be 0 (automatic) or between 16MiB and 1024GiB, got -1B"})
	})
}

// The constants and the knobs say the same, and every name has its form.
func TestKnobsAgreeWithTheirConstants(t *testing.T) {
	for _, r := range []struct {
		name, key, flag string
		min, max        float64
		kmin, kmax      float64
	}{
		{Nodes.Name, Nodes.Key, Nodes.Flag, MinNodes, MaxNodes, float64(Nodes.Min), float64(Nodes.Max)},
		{Shards.Name, Shards.Key, Shards.Flag, MinShards, MaxShards, float64(Shards.Min), float64(Shards.Max)},
		{Clients.Name, Clients.Key, Clients.Flag, MinClients, MaxClients, float64(Clients.Min), float64(Clients.Max)},
		{Duration.Name, Duration.Key, Duration.Flag, float64(MinDuration), float64(MaxDuration), float64(Duration.Min), float64(Duration.Max)},
		{DataSize.Name, DataSize.Key, DataSize.Flag, MinDataSize, MaxDataSize, float64(DataSize.Min), float64(DataSize.Max)},
		{Rate.Name, Rate.Key, Rate.Flag, MinRate, MaxRate, Rate.Min, Rate.Max},
		{NetDelay.Name, NetDelay.Key, NetDelay.Flag, float64(MinNetDelay), float64(MaxNetDelay), float64(NetDelay.Min), float64(NetDelay.Max)},
		{Transactions.Name, Transactions.Key, Transactions.Flag, MinCount, MaxCount, float64(Transactions.Min), float64(Transactions.Max)},
		{Queries.Name, Queries.Key, Queries.Flag, MinCount, MaxCount, float64(Queries.Min), float64(Queries.Max)},
		{Tick.Name, Tick.Key, Tick.Flag, float64(MinTick), float64(MaxTick), float64(Tick.Min), float64(Tick.Max)},
		{Window.Name, Window.Key, Window.Flag, MinWindow, MaxWindow, float64(Window.Min), float64(Window.Max)},
		{MemoryBudget.Name, MemoryBudget.Key, MemoryBudget.Flag, MinMemoryBudget, MaxMemoryBudget, float64(MemoryBudget.Min), float64(MemoryBudget.Max)},
		{OpTimeout.Name, OpTimeout.Key, OpTimeout.Flag, float64(MinOpTimeout), float64(MaxOpTimeout), float64(OpTimeout.Min), float64(OpTimeout.Max)},
	} {
		if r.min != r.kmin || r.max != r.kmax {
			t.Errorf("%s: knob bounds %v..%v, constants %v..%v", r.name, r.kmin, r.kmax, r.min, r.max)
		}
		if r.name == "" || r.key == "" || r.flag == "" {
			t.Errorf("%q: a name, key or flag is missing (%q, %q)", r.name, r.key, r.flag)
		}
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Nodes.Span(), "1..100"},
		{Shards.Span(), "0..256, 0 = one per node"},
		{Duration.Span(), "500ms..24h"},
		{DataSize.Span(), "1B..16MiB"},
		{Rate.Span(), "0..10000000, 0 = closed loop"},
		{NetDelay.Span(), "0s..10s"},
		{Transactions.Span(), "0..10000000, 0 = no count limit"},
		{MemoryBudget.Span(), "0 = automatic, or 16MiB..1024GiB"},
		{Clients.Bounds(), "1..10000"},
	} {
		if tc.got != tc.want {
			t.Errorf("span %q; want %q", tc.got, tc.want)
		}
	}
}

// Every knob reads back what it writes, and says how to write a value it
// cannot read.
func TestKnobParseFormat(t *testing.T) {
	ints := []*Knob[int]{&Nodes, &Shards, &Clients, &DataSize, &Transactions, &Queries, &Window}
	for _, k := range ints {
		for _, v := range []int{k.Min, k.Max, (k.Min + k.Max) / 2} {
			if back, err := k.Parse(k.Format(v)); err != nil || back != v {
				t.Errorf("%s: Parse(Format(%d)) = %d, %v", k.Name, v, back, err)
			}
		}
		if _, err := k.Parse("many"); err == nil {
			t.Errorf("%s: Parse(many) succeeded", k.Name)
		}
	}
	for _, k := range []*Knob[time.Duration]{&Duration, &NetDelay, &Tick} {
		for _, v := range []time.Duration{k.Min, k.Max, 1500 * time.Millisecond, 90 * time.Second} {
			if back, err := k.Parse(k.Format(v)); err != nil || back != v {
				t.Errorf("%s: Parse(Format(%v)) = %v, %v", k.Name, v, back, err)
			}
		}
		if _, err := k.Parse("soon"); err == nil || err.Error() != `"soon" is not a duration; write it with a unit, like 500ms, 30s or 2m` {
			t.Errorf("%s: Parse(soon) = %v", k.Name, err)
		}
	}
	for _, v := range []float64{0, 0.25, 2500, 1e7} {
		if back, err := Rate.Parse(Rate.Format(v)); err != nil || back != v {
			t.Errorf("rate: Parse(Format(%v)) = %v, %v", v, back, err)
		}
	}
	if s := Rate.Format(1e7); s != "10000000" {
		t.Errorf("rate 1e7 writes %q", s)
	}
	for _, v := range []int64{0, 16 << 20, 1024 << 30, 3_000_000_000} {
		if back, err := MemoryBudget.Parse(MemoryBudget.Format(v)); err != nil || back != v {
			t.Errorf("memory budget: Parse(Format(%d)) = %d, %v", v, back, err)
		}
	}
	if v, err := DataSize.Parse("1MB"); err != nil || v != 1_000_000 || DataSize.Format(v) != "1MB" {
		t.Errorf("data size 1MB = %d, %v, writes %q", v, err, DataSize.Format(v))
	}
}

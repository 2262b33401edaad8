package tui

import (
	"strings"
	"testing"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
)

// A knob's life on the dashboard: moved, pending, sent, and put back when
// the run refuses it.
func TestKnobLife(t *testing.T) {
	cfg := suites.DefaultConfig()
	cfg.Clients, cfg.Rate = 8, 0
	live := func() tuning { return newTuning(&shared{keys: DefaultKeyMap()}, cfg, nil).Live() }
	clients := func(n int) knob.Action { return knob.Action{Verb: knob.VerbClients, Count: n} }

	t.Run("nothing pending sends nothing", func(t *testing.T) {
		tu, sends, why := live().MarkSent(cfg)
		if len(sends) != 0 || why != "" || tu.Pending(knobClients) {
			t.Errorf("sends %v, why %q", sends, why)
		}
	})
	t.Run("a moved knob is pending until sent", func(t *testing.T) {
		tu := live().Set(knobClients, 32)
		if !tu.Pending(knobClients) || tu.Applied(knobClients) != 8 {
			t.Fatalf("value %d applied %d, want 32 pending", tu.Value(knobClients), tu.Applied(knobClients))
		}
		tu, sends, why := tu.MarkSent(cfg)
		want := retune{knob: knobClients, action: clients(32), prev: 8}
		if len(sends) != 1 || sends[0] != want || why != "" {
			t.Fatalf("sends %+v why %q, want %+v", sends, why, want)
		}
		if tu.Pending(knobClients) || tu.Applied(knobClients) != 32 {
			t.Errorf("applied %d, want 32", tu.Applied(knobClients))
		}
	})
	t.Run("a value the run cannot take goes back", func(t *testing.T) {
		tu, sends, why := live().Set(knobRate, 1000).MarkSent(cfg)
		if len(sends) != 0 || !strings.Contains(why, "closed-loop") || tu.Value(knobRate) != 0 || tu.Pending(knobRate) {
			t.Errorf("sends %v why %q rate %d", sends, why, tu.Value(knobRate))
		}
	})
	t.Run("a refused action reverts", func(t *testing.T) {
		tu, _, _ := live().Set(knobClients, 32).MarkSent(cfg)
		tu = tu.Revert(knobClients, clients(32), 8)
		if tu.Value(knobClients) != 8 || tu.Applied(knobClients) != 8 {
			t.Errorf("value %d applied %d, want back at 8", tu.Value(knobClients), tu.Applied(knobClients))
		}
	})
	t.Run("a refusal keeps a value the user moved on to", func(t *testing.T) {
		tu, _, _ := live().Set(knobClients, 32).MarkSent(cfg)
		tu = tu.Set(knobClients, 64).Revert(knobClients, clients(32), 8)
		if tu.Value(knobClients) != 64 || tu.Applied(knobClients) != 8 || !tu.Pending(knobClients) {
			t.Errorf("value %d applied %d, want 64 pending over 8", tu.Value(knobClients), tu.Applied(knobClients))
		}
	})
	t.Run("set stays within the limits", func(t *testing.T) {
		tu := live().Set(knobClients, knob.MaxClients+1)
		if tu.Value(knobClients) != knob.MaxClients {
			t.Errorf("clients %d, want %d", tu.Value(knobClients), knob.MaxClients)
		}
	})
}

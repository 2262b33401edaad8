package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites"
)

// knob is one tunable setting stepped through values that make sense for
// it, clamped to the limits the runner accepts.
type knob struct {
	name   string
	value  int64
	steps  []int64 // ascending: the lower limit, the steps within, the upper limit
	format func(int64) string
}

// newKnob makes a knob over steps clamped to [lo, hi]; a value between two
// steps (one given by a profile, say) is kept until the user moves it.
func newKnob(name string, value, lo, hi int64, steps []int64, format func(int64) string) knob {
	s := []int64{lo}
	for _, v := range steps {
		if v > lo && v < hi {
			s = append(s, v)
		}
	}
	if hi > lo {
		s = append(s, hi)
	}
	return knob{name: name, value: min(max(value, lo), hi), steps: s, format: format}
}

// up moves to the next step above the value; at the upper limit it stays.
func (k knob) up() knob {
	for _, s := range k.steps {
		if s > k.value {
			k.value = s
			return k
		}
	}
	return k
}

// down moves to the next step below the value; at the lower limit it stays.
func (k knob) down() knob {
	for i := len(k.steps) - 1; i >= 0; i-- {
		if s := k.steps[i]; s < k.value {
			k.value = s
			return k
		}
	}
	return k
}

func (k knob) atMin() bool { return k.value <= k.steps[0] }
func (k knob) atMax() bool { return k.value >= k.steps[len(k.steps)-1] }

// Knob indexes in the tuning panel.
const (
	knobNodes = iota
	knobClients
	knobDuration
	knobDataSize
)

// Steps: small clusters one by one, then odd sizes (a Raft quorum gains
// nothing from an even one), then the round numbers profiles use; clients
// in powers of two; durations and sizes in the steps people type.
var (
	nodeSteps     = []int64{1, 2, 3, 4, 5, 7, 9, 11, 15, 20, 25, 30, 40, 50, 75, 100}
	durationSteps = []int64{
		int64(time.Second), int64(2 * time.Second), int64(5 * time.Second), int64(10 * time.Second),
		int64(30 * time.Second), int64(time.Minute), int64(2 * time.Minute), int64(5 * time.Minute),
		int64(10 * time.Minute), int64(15 * time.Minute), int64(30 * time.Minute), int64(time.Hour),
		int64(2 * time.Hour), int64(4 * time.Hour), int64(8 * time.Hour), int64(12 * time.Hour),
	}
	dataSizeSteps = []int64{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
)

func powersOfTwo(hi int64) []int64 {
	var out []int64
	for v := int64(1); v <= hi; v *= 2 {
		out = append(out, v)
	}
	return out
}

// tuning is the panel of knobs: nodes, clients, duration, data size.
type tuning struct {
	sh      *shared
	knobs   []knob
	cursor  int
	focused bool
	width   int
}

func newTuning(sh *shared, cfg suites.Config) tuning {
	return tuning{sh: sh, knobs: []knob{
		knobNodes:    newKnob("nodes", int64(cfg.Nodes), suites.MinNodes, suites.MaxNodes, nodeSteps, formatInt),
		knobClients:  newKnob("clients", int64(cfg.Clients), suites.MinClients, suites.MaxClients, powersOfTwo(suites.MaxClients), formatInt),
		knobDuration: newKnob("duration", int64(cfg.Duration), int64(suites.MinDuration), int64(suites.MaxDuration), durationSteps, formatDurationKnob),
		knobDataSize: newKnob("data size", int64(cfg.DataSize), suites.MinDataSize, suites.MaxDataSize, dataSizeSteps, formatSize),
	}}
}

// apply writes the knobs into cfg.
func (t tuning) apply(cfg suites.Config) suites.Config {
	cfg.Nodes = int(t.knobs[knobNodes].value)
	cfg.Clients = int(t.knobs[knobClients].value)
	cfg.Duration = time.Duration(t.knobs[knobDuration].value)
	cfg.DataSize = int(t.knobs[knobDataSize].value)
	return cfg
}

func (t tuning) SetSize(width int) tuning { t.width = width; return t }

// Len is the number of rows.
func (t tuning) Len() int { return len(t.knobs) }

// Update adjusts the focused knob.
func (t tuning) Update(msg tea.Msg) (tuning, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok || !t.focused {
		return t, nil
	}
	switch {
	case key.Matches(km, t.sh.keys.Left):
		t.knobs[t.cursor] = t.knobs[t.cursor].down()
	case key.Matches(km, t.sh.keys.Right):
		t.knobs[t.cursor] = t.knobs[t.cursor].up()
	}
	return t, nil
}

func (t tuning) View() string {
	st := t.sh.styles
	var b strings.Builder
	b.WriteString(st.Section.Render("TUNING"))
	nameW := 0
	for _, k := range t.knobs {
		nameW = max(nameW, len(k.name))
	}
	for i, k := range t.knobs {
		b.WriteByte('\n')
		cursor := "  "
		name := st.Label.Render(pad(k.name, nameW))
		if t.focused && i == t.cursor {
			cursor = st.Selected.Render("› ")
			name = st.Selected.Render(pad(k.name, nameW))
		}
		left, right := "◀", "▶"
		if k.atMin() {
			left = st.Dim.Render(" ")
		}
		if k.atMax() {
			right = st.Dim.Render(" ")
		}
		b.WriteString(cursor + name + "  " + left + " " + st.Value.Render(k.format(k.value)) + " " + right)
	}
	return fit(b.String(), t.width)
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

// formatDurationKnob prints whole units without trailing zeros: 10s, 1m,
// 1h30m, 500ms.
func formatDurationKnob(v int64) string {
	d := time.Duration(v)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d >= time.Second && d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// formatSize prints a byte size in the largest binary unit that divides
// it: 64B, 1KiB, 16MiB; 1500B stays 1500B.
func formatSize(v int64) string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if v >= u.n && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10) + "B"
}

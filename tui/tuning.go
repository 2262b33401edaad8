package tui

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Knob indexes in the tuning panel, in the order it lists them. The
// profile and cluster knobs are on the setup screen only: a run keeps its
// profile, and its nodes run where they started.
const (
	knobProfile = iota
	knobCluster
	knobNodeCPUs // with the processes cluster only
	knobNodes
	knobClients
	knobDuration
	knobDataSize
	knobRate
	knobNetDelay
)

// Steps: small clusters one by one, then odd sizes (a Raft quorum gains
// nothing from an even one), then the round numbers profiles use; clients
// in powers of two; durations, sizes, rates and delays in the steps people
// type.
var (
	nodeSteps     = []int64{1, 2, 3, 4, 5, 7, 9, 11, 15, 20, 25, 30, 40, 50, 75, 100}
	durationSteps = []int64{
		int64(time.Second), int64(2 * time.Second), int64(5 * time.Second), int64(10 * time.Second),
		int64(30 * time.Second), int64(time.Minute), int64(2 * time.Minute), int64(5 * time.Minute),
		int64(10 * time.Minute), int64(15 * time.Minute), int64(30 * time.Minute), int64(time.Hour),
		int64(2 * time.Hour), int64(4 * time.Hour), int64(8 * time.Hour), int64(12 * time.Hour),
	}
	dataSizeSteps = []int64{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	rateSteps     = []int64{100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000}
	delaySteps    = []int64{
		int64(time.Millisecond), int64(2 * time.Millisecond), int64(5 * time.Millisecond), int64(10 * time.Millisecond),
		int64(20 * time.Millisecond), int64(50 * time.Millisecond), int64(100 * time.Millisecond),
		int64(200 * time.Millisecond), int64(500 * time.Millisecond), int64(time.Second),
	}
)

func powersOfTwo(hi int64) []int64 {
	var out []int64
	for v := int64(1); v <= hi; v *= 2 {
		out = append(out, v)
	}
	return out
}

// tuning is the panel of knobs. On the setup screen it is a column with
// the profile first; on the dashboard (live) a line of the knobs a running
// suite takes, where the focused one is the one ←/→ and typing change.
type tuning struct {
	sh       *shared
	knobs    []dial
	profiles []string // the profile knob's names, by value
	clusters []string // the cluster knob's modes, by value
	cursor   int
	focused  bool
	live     bool
	width    int
	editing  bool   // a value is being typed into the focused knob
	input    string // what has been typed so far
	err      string // why the last typed value was refused
	changes  int    // the run's epoch changes already followed
}

// newTuning is the panel for cfg; names are the profiles the profile knob
// steps through (cfg.Profile among them, or added).
func newTuning(sh *shared, cfg suites.Config, names []string) tuning {
	t := tuning{sh: sh}
	t.profiles, t.knobs = profileKnob(names, cfg.Profile)
	var cluster dial
	t.clusters, cluster = clusterKnob(cfg.Cluster)
	t.knobs = append(t.knobs[:1], cluster, nodeCPUsKnob(cfg.NodeCPUs),
		dialOf(&knob.Nodes, cfg.Nodes, nodeSteps),
		dialOf(&knob.Clients, cfg.Clients, powersOfTwo(knob.MaxClients)),
		dialOf(&knob.Duration, cfg.Duration, durationSteps).named("dur"),
		dialOf(&knob.DataSize, cfg.DataSize, dataSizeSteps).named("size"),
		dialOf(&knob.Rate, cfg.Rate, rateSteps).shown(formatRate),
		dialOf(&knob.NetDelay, cfg.NetDelay, delaySteps).shown(formatDelay).named("delay"),
	)
	return t
}

// profileKnob is the profile knob over names, with current added when the
// list lacks it ("custom" stands for no profile).
func profileKnob(names []string, current string) ([]string, []dial) {
	if current == "" {
		current = "custom"
	}
	idx := -1
	for i, n := range names {
		if n == current {
			idx = i
		}
	}
	names = append([]string(nil), names...)
	if idx < 0 {
		names = append(names, current)
		idx = len(names) - 1
	}
	steps := make([]int64, len(names))
	for i := range steps {
		steps[i] = int64(i)
	}
	format := func(v int64) string {
		if v >= 0 && int(v) < len(names) {
			return names[v]
		}
		return "?"
	}
	return names, []dial{newDial("profile", int64(idx), 0, int64(len(names)-1), steps, format)}
}

// clusterKnob chooses where the nodes run: embedded or processes, and a
// profile's join=HOST:PORT,... when it has one (addresses are not typed
// here; a profile file carries them).
func clusterKnob(current string) ([]string, dial) {
	modes := []string{suites.ClusterEmbedded, suites.ClusterProcesses}
	idx := 0
	if current != "" {
		idx = slices.Index(modes, current)
		if idx < 0 {
			modes = append(modes, current)
			idx = len(modes) - 1
		}
	}
	steps := make([]int64, len(modes))
	for i := range steps {
		steps[i] = int64(i)
	}
	format := func(v int64) string {
		if v >= 0 && int(v) < len(modes) {
			return modes[v]
		}
		return "?"
	}
	return modes, newDial("cluster", int64(idx), 0, int64(len(modes)-1), steps, format)
}

// nodeCPUSteps are the quotas the node CPUs knob steps through, in
// thousandths of a CPU (a dial's value is an integer): none, then those
// that emulate small machines, up to the machine's own CPUs.
var nodeCPUSteps = []int64{0, 100, 200, 250, 500, 1000, 2000, 4000}

// nodeCPUsKnob is each node process's CPU quota (--node-cpus), in
// thousandths of a CPU, 0 for none: up to the machine's CPUs, as the flag
// takes. It applies with the processes cluster only; with another the
// panel shows it off and Apply leaves it out.
func nodeCPUsKnob(cpus float64) dial {
	k := &knob.NodeCPUs
	hi := int64(min(float64(runtime.NumCPU()), k.Max) * 1000)
	d := newDial(k.Name, int64(math.Round(max(cpus, 0)*1000)), 0, hi, nodeCPUSteps, formatNodeCPUs)
	d.parse = func(s string) (int64, error) {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "CPUs"))
		if s == "0" {
			return 0, nil
		}
		v, err := k.Parse(s)
		return int64(math.Round(v * 1000)), err
	}
	d.check = func(v int64) error {
		if v == 0 {
			return nil
		}
		if v > hi {
			return errors.New(k.Name + " must be at most the machine's " + formatNodeCPUs(hi))
		}
		return k.Check(float64(v) / 1000)
	}
	return d.named("cpus")
}

// formatNodeCPUs is the node CPUs knob's value: "no quota", "0.2 CPUs".
func formatNodeCPUs(v int64) string {
	if v == 0 {
		return "no quota"
	}
	return knob.FormatFloat(float64(v)/1000) + " CPUs"
}

// processes is whether the cluster knob chooses node processes, the only
// cluster the node CPUs knob applies to.
func (t tuning) processes() bool {
	return t.clusters[t.knobs[knobCluster].value] == suites.ClusterProcesses
}

// Load is the panel for cfg's settings (a profile just chosen): its knobs
// anew, its profiles, cursor, focus and size as they were.
func (t tuning) Load(cfg suites.Config) tuning {
	n := newTuning(t.sh, cfg, t.profiles)
	n.cursor, n.focused, n.width = t.cursor, t.focused, t.width
	return n
}

// Profile is the name the profile knob shows.
func (t tuning) Profile() string { return t.profiles[t.knobs[knobProfile].value] }

// Apply writes the knobs into cfg (not the profile: choosing one loads it).
func (t tuning) Apply(cfg suites.Config) suites.Config {
	cfg.Cluster = t.clusters[t.knobs[knobCluster].value]
	cfg.NodeCPUs = 0
	if t.processes() {
		cfg.NodeCPUs = float64(t.knobs[knobNodeCPUs].value) / 1000
	}
	cfg.Nodes = int(t.knobs[knobNodes].value)
	cfg.Clients = int(t.knobs[knobClients].value)
	cfg.Duration = time.Duration(t.knobs[knobDuration].value)
	cfg.DataSize = int(t.knobs[knobDataSize].value)
	cfg.Rate = float64(t.knobs[knobRate].value)
	cfg.NetDelay = time.Duration(t.knobs[knobNetDelay].value)
	return cfg
}

// Live is the panel for a run: the knobs a running suite takes, each
// applied as it stands, with the keys.
func (t tuning) Live() tuning {
	t.live, t.editing, t.input, t.err, t.changes = true, false, "", "", 0
	for i := range t.knobs {
		t.knobs[i].applied = t.knobs[i].value
	}
	t.cursor = max(t.cursor, knobNodes)
	t.focused = true
	return t
}

// Follow takes the settings in force from a snapshot: each live change
// the run made since the last snapshot — a scripted one, the nemesis's,
// or the user's own coming back — becomes its knob's applied value, and
// its shown value unless the user has another one pending.
func (t tuning) Follow(s *metrics.Snapshot) tuning {
	n := len(s.Epochs) + 1 // the closed epochs, then the current one
	if !t.live || n <= t.changes {
		return t
	}
	t.knobs = append([]dial(nil), t.knobs...) // the knobs are shared with earlier copies of the panel
	for i := t.changes; i < n; i++ {
		change := s.EpochChange
		if i < len(s.Epochs) {
			change = s.Epochs[i].Change
		}
		if sp := strings.LastIndexByte(change, ' '); sp >= 0 {
			change = change[sp+1:] // "nemesis net-delay=20ms": who acted does not matter here
		}
		a, err := knob.ParseAction(change)
		k, ok := knobOf(a.Verb)
		if err != nil || !ok {
			continue
		}
		d, v := &t.knobs[k], knobValue(a)
		if !d.pending() {
			d.value = v
		}
		d.applied = v
	}
	t.changes = n
	return t
}

// knobOf is the knob an action's verb sets.
func knobOf(verb string) (int, bool) {
	switch verb {
	case knob.VerbNodes:
		return knobNodes, true
	case knob.VerbClients:
		return knobClients, true
	case knob.VerbDuration:
		return knobDuration, true
	case knob.VerbDataSize:
		return knobDataSize, true
	case knob.VerbRate:
		return knobRate, true
	case knob.VerbNetDelay:
		return knobNetDelay, true
	}
	return 0, false
}

// Setup is the panel back on the setup screen.
func (t tuning) Setup() tuning {
	t.live, t.editing, t.input, t.err = false, false, "", ""
	return t
}

func (t tuning) SetSize(width int) tuning { t.width = width; return t }

// Focus gives the panel the keys; Blur takes them away.
func (t tuning) Focus() tuning { t.focused = true; return t }
func (t tuning) Blur() tuning  { t.focused = false; return t }

// Focused is whether the panel has the keys.
func (t tuning) Focused() bool { return t.focused }

// Len is the number of rows.
func (t tuning) Len() int { return len(t.knobs) }

// Cursor is the focused row.
func (t tuning) Cursor() int { return t.cursor }

// Select moves the cursor to row i, within the rows there are.
func (t tuning) Select(i int) tuning {
	t.cursor = min(max(i, 0), len(t.knobs)-1)
	return t
}

// first is the first row the cursor may take.
func (t tuning) first() int {
	if t.live {
		return knobNodes
	}
	return 0
}

// Cycle steps the cursor by d, wrapping, and drops a value being typed:
// tab on the dashboard.
func (t tuning) Cycle(d int) tuning {
	first, n := t.first(), len(t.knobs)-t.first()
	t.cursor = first + ((t.cursor-first+d)%n+n)%n
	t.editing, t.input, t.err = false, "", ""
	return t
}

// Update adjusts the focused knob with ←/→, or takes a typed value: a
// digit starts it, enter sets it, esc drops it.
func (t tuning) Update(msg tea.Msg) (tuning, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok || !t.focused {
		return t, nil
	}
	k := &t.knobs[t.cursor]
	if t.editing {
		switch km.Type {
		case tea.KeyEnter:
			nk, err := k.set(t.input)
			t.editing, t.input = false, ""
			if err != nil {
				t.err = err.Error()
			} else {
				*k = nk
			}
		case tea.KeyEsc:
			t.editing, t.input = false, ""
		case tea.KeyBackspace:
			if t.input != "" {
				t.input = t.input[:len(t.input)-1]
			}
			t.editing = t.input != ""
		case tea.KeyRunes:
			t.input += string(km.Runes)
		}
		return t, nil
	}
	t.err = ""
	if t.cursor == knobNodeCPUs && !t.processes() {
		return t, nil // off: a quota applies to node processes only
	}
	switch {
	case key.Matches(km, t.sh.keys.Left):
		*k = k.down()
	case key.Matches(km, t.sh.keys.Right):
		*k = k.up()
	case km.Type == tea.KeyRunes && len(km.Runes) > 0 && km.Runes[0] >= '0' && km.Runes[0] <= '9' && k.parse != nil:
		// Several runes at once are fast typing or a paste: all of them
		// are the value.
		t.editing, t.input = true, string(km.Runes)
	}
	return t, nil
}

// Editing is whether keys go to a value being typed.
func (t tuning) Editing() bool { return t.editing }

// A knob's life on the dashboard: the user moves its value (Update, Set);
// while the value differs from the one the run has, the knob is Pending
// and shows …; MarkSent takes the value as the run's and says which
// actions carry it there; a refused action puts the run's value back
// (Revert).

// Value is knob i's value; Applied, the value the run has.
func (t tuning) Value(i int) int64   { return t.knobs[i].value }
func (t tuning) Applied(i int) int64 { return t.knobs[i].applied }

// Pending is whether knob i has a value the run does not have yet.
func (t tuning) Pending(i int) bool { return t.knobs[i].pending() }

// Set gives knob i the value v, within its limits.
func (t tuning) Set(i int, v int64) tuning {
	k := &t.knobs[i]
	k.value = min(max(v, k.lo()), k.hi())
	return t
}

// retune is a knob's new value on its way to the run.
type retune struct {
	knob   int
	action knob.Action
	prev   int64 // the value the run had
}

// MarkSent takes every pending knob's value as the run's and returns the
// actions that give it to run. A value run cannot take goes back to the
// run's, and why says so.
func (t tuning) MarkSent(run suites.Config) (_ tuning, sends []retune, why string) {
	for i := range t.knobs {
		k := &t.knobs[i]
		if !k.pending() {
			continue
		}
		a, refused := knobAction(i, *k, run)
		if refused != "" {
			k.value, why = k.applied, refused
			continue
		}
		sends = append(sends, retune{knob: i, action: a, prev: k.applied})
		k.applied = k.value
	}
	return t, sends, why
}

// Revert is the panel after the run refused a, sent for knob i: the run
// kept prev, and the knob shows it again, unless the user has moved on to
// another value meanwhile.
func (t tuning) Revert(i int, a knob.Action, prev int64) tuning {
	k, sent := &t.knobs[i], knobValue(a)
	if k.applied == sent {
		k.applied = prev
		if k.value == sent {
			k.value = prev
		}
	}
	return t
}

// knobAction is the action that gives a run knob i's value, or why the
// run cannot take it.
func knobAction(i int, k dial, run suites.Config) (knob.Action, string) {
	switch i {
	case knobNodes:
		return knob.Action{Verb: knob.VerbNodes, Count: int(k.value)}, ""
	case knobClients:
		return knob.Action{Verb: knob.VerbClients, Count: int(k.value)}, ""
	case knobDuration:
		return knob.Action{Verb: knob.VerbDuration, Delay: time.Duration(k.value)}, ""
	case knobDataSize:
		return knob.Action{Verb: knob.VerbDataSize, Size: int(k.value)}, ""
	case knobRate:
		if run.Rate == 0 {
			return knob.Action{}, "this run is closed-loop; choose a rate on the setup screen for an open loop"
		}
		if k.value == 0 {
			return knob.Action{}, "an open-loop run keeps a rate; it cannot turn into a closed loop"
		}
		return knob.Action{Verb: knob.VerbRate, Rate: float64(k.value)}, ""
	case knobNetDelay:
		return knob.Action{Verb: knob.VerbNetDelay, Delay: time.Duration(k.value)}, ""
	}
	return knob.Action{}, "this setting cannot change during a run"
}

// knobValue is the knob value an action sets.
func knobValue(a knob.Action) int64 {
	switch a.Verb {
	case knob.VerbNodes, knob.VerbClients:
		return int64(a.Count)
	case knob.VerbDataSize:
		return int64(a.Size)
	case knob.VerbRate:
		return int64(a.Rate)
	}
	return int64(a.Delay)
}

// value shows knob i: the typed input while it is being typed.
func (t tuning) value(i int) string {
	st := t.sh.styles
	k := t.knobs[i]
	if t.editing && i == t.cursor {
		return st.Selected.Render("[" + t.input + "▏]")
	}
	if i == knobNodeCPUs && !t.processes() {
		return st.Dim.Render("off (processes only)")
	}
	v := st.Value.Render(k.format(k.value))
	if t.live && k.pending() {
		v += st.Warn.Render("…")
	}
	return v
}

func (t tuning) View() string {
	if t.live {
		return t.lineView()
	}
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
		off := i == knobNodeCPUs && !t.processes() // moving it would change nothing
		if off {
			left, right = st.Dim.Render(" "), st.Dim.Render(" ")
		}
		b.WriteString(cursor + name + "  " + left + " " + t.value(i) + " " + right)
		if t.focused && i == t.cursor && k.parse != nil && !t.editing && !off {
			b.WriteString(st.Dim.Render("  type a value"))
		}
	}
	if t.err != "" {
		b.WriteString("\n" + st.Error.Render("  ✗ "+t.err))
	}
	return fit(b.String(), t.width)
}

// lineView is the dashboard's one line: every live knob, the focused one
// marked ‹ › (or its typed value), pending ones with …
func (t tuning) lineView() string {
	st := t.sh.styles
	parts := make([]string, 0, len(t.knobs))
	for i := t.first(); i < len(t.knobs); i++ {
		name := st.Label.Render(t.knobs[i].short)
		v := t.value(i)
		if i == t.cursor && !t.editing {
			name = st.Selected.Render(t.knobs[i].short)
			v = st.Selected.Render("‹") + v + st.Selected.Render("›")
		}
		parts = append(parts, name+" "+v)
	}
	line := st.Section.Render("TUNE") + " " + strings.Join(parts, "  ")
	if t.err != "" {
		line = st.Section.Render("TUNE") + " " + st.Error.Render("✗ "+t.err)
	}
	return fit(line, t.width)
}

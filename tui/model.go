package tui

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// screen is what the TUI shows.
type screen int

const (
	screenSetup     screen = iota // pick suites, tune, start
	screenDashboard               // a run in progress
	screenSummary                 // a run over: final figures and verdicts
)

// frame is the redraw interval: about ten frames a second, plenty for
// figures that change every runner tick (250 ms by default).
const frame = 100 * time.Millisecond

// tickMsg asks for a redraw from the latest snapshot. Each run's ticks
// carry a new id, so a tick still in flight from an earlier run is dropped
// instead of starting a second tick loop.
type tickMsg struct {
	id int
	at time.Time
}

// snapshotMsg hands the components a new snapshot.
type snapshotMsg struct{ snap *metrics.Snapshot }

// signalMsg is SIGINT or SIGTERM, forwarded by Run.
type signalMsg struct{ sig os.Signal }

// deps are the model's doors to the world outside the screen; tests
// replace them with fakes.
type deps struct {
	newRun   func(suites.Config) (runner, error)
	profiles func() []string                                      // names the profile knob offers
	load     func(name string) (suites.Config, error)             // a profile's settings
	save     func(name string, cfg suites.Config) (string, error) // saves a profile, returns its path
	export   func(r *metrics.Report) ([]string, error)            // writes a report, returns the paths
}

// model is the phantom TUI: the root model, which owns every component by
// value and forwards each only the messages it needs. The header names the
// profile the settings started from ("custom" when none).
type model struct {
	sh       *shared
	d        deps
	base     suites.Config // settings the screens do not tune
	runCfg   suites.Config // the run's settings as started
	sess     *session
	screen   screen
	setupErr string
	showHelp bool
	help     help.Model
	prompt   prompt
	notice   notice
	now      time.Time // the latest tick's time: the model's clock

	header  header
	picker  suitePicker
	tuning  tuning
	table   opTable
	chart   latencyChart
	rate    rateChart
	gauges  gauges
	cluster clusterPanel
	events  eventLog
	checks  checksLine
	limit   bottleneckLine
	phases  phasesLine // the selected op's phases
	explain bool       // the dashboard has room for the phases and bottleneck lines
	summary summary

	run      *launch // the run on the dashboard or summary; nil before the first
	tickID   int
	finished bool // run's runner has returned
	stopping bool // the user asked the run to stop
	quitting bool // quit once the runner returns
	paused   bool // the latest snapshot says the load is paused
	pendAt   time.Time
}

// newModel is the setup screen for cfg.
func newModel(cfg suites.Config, d deps) model {
	sh := &shared{styles: newStyles(lipgloss.DefaultRenderer()), keys: DefaultKeyMap(), width: 80, height: 24}
	h := help.New()
	h.Styles = sh.styles.Help
	var names []string
	if d.profiles != nil {
		names = d.profiles()
	}
	m := model{
		sh: sh, d: d, base: cfg, sess: &session{}, help: h, prompt: newPrompt(sh),
		header: newHeader(sh, profileName(cfg)), picker: newSuitePicker(sh, cfg).Focus(), tuning: newTuning(sh, cfg, names),
		table: newOpTable(sh), chart: newLatencyChart(sh, cfg.Baselines.MaxAvgLatency), rate: newRateChart(sh),
		gauges: newGauges(sh), cluster: newClusterPanel(sh), events: newEventLog(sh), checks: newChecksLine(sh), limit: newBottleneckLine(sh),
		phases: newPhasesLine(sh), summary: newSummary(sh),
	}
	m.setScreen(screenSetup)
	return m.layout()
}

// Init sets the window title; the screen redraws on key presses until a
// run starts its tick.
func (m model) Init() tea.Cmd { return tea.SetWindowTitle("phantom") }

// Update handles one message.
func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.sh.setSize(msg.Width, msg.Height)
		return m.layout(), nil
	case tickMsg:
		return m.onTick(msg)
	case runDoneMsg:
		return m.onRunDone(msg)
	case controlDoneMsg:
		return m.onControlDone(msg), nil
	case savedMsg:
		return m.onSaved(msg), nil
	case exportedMsg:
		return m.onExported(msg), nil
	case signalMsg:
		return m.quit()
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	if m.prompt.Active() {
		var cmd tea.Cmd
		m.prompt, cmd = m.prompt.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *model) setScreen(s screen) {
	m.screen = s
	m.sh.keys.forScreen(s)
}

func (m model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.sh.keys
	if msg.Type == tea.KeyCtrlC {
		return m.quit()
	}
	switch {
	case m.prompt.Active():
		return m.onPromptKey(msg)
	case m.tuning.Editing():
		return m.retune(msg)
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
		return m, nil
	case m.showHelp:
		// The overlay has the keys; esc or ? closes it.
		if key.Matches(msg, k.Close) {
			m.showHelp = false
		}
		return m, nil
	case key.Matches(msg, k.Save):
		return m.askSave()
	case key.Matches(msg, k.Export) && m.run != nil:
		return m.exportReport()
	}
	switch m.screen {
	case screenSetup:
		return m.onSetupKey(msg)
	case screenDashboard:
		return m.onDashboardKey(msg)
	case screenSummary:
		// Only once the runner has returned: the old cluster must be
		// down before a new one starts, and Run waits only for the last.
		if key.Matches(msg, k.Again) && m.finished {
			m.setScreen(screenSetup)
			m.header = m.header.Setup()
			m.tuning = m.tuning.Setup()
			return m.layout(), nil
		}
	}
	if key.Matches(msg, k.Up, k.Down, k.Next, k.Prev) {
		m.table, _ = m.table.Update(msg)
	}
	return m.syncChart(), nil
}

// quit leaves at once when no run is going. During a run it cancels the
// run and quits when the runner has returned, so the cluster shuts down
// while the screen still says so; asked twice, it leaves at once, and Run
// still waits for the runner, within a bound.
func (m model) quit() (tea.Model, tea.Cmd) {
	if m.run == nil || m.finished {
		return m, tea.Quit
	}
	if m.stopping {
		return m, tea.Quit
	}
	m.run.cancel()
	m.stopping, m.quitting = true, true
	m.header = m.header.SetStopping(true)
	return m, nil
}

func (m model) onSetupKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.sh.keys
	m.setupErr = ""
	switch {
	case key.Matches(msg, k.Start):
		return m.start()
	case key.Matches(msg, k.Up):
		m.moveFocus(-1)
	case key.Matches(msg, k.Down):
		m.moveFocus(+1)
	case key.Matches(msg, k.Next, k.Prev):
		if m.picker.Focused() {
			m.picker, m.tuning = m.picker.Blur(), m.tuning.Focus()
		} else {
			m.picker, m.tuning = m.picker.Focus(), m.tuning.Blur()
		}
	default:
		m.picker, _ = m.picker.Update(msg)
		before := m.tuning.Profile()
		m.tuning, _ = m.tuning.Update(msg)
		if after := m.tuning.Profile(); after != before {
			m.loadProfile(after)
		}
	}
	return m.layout(), nil
}

// loadProfile makes the named profile the setup screen's settings: the
// suites it runs, its knobs, everything it sets that no knob shows.
func (m *model) loadProfile(name string) {
	if m.d.load == nil {
		return
	}
	cfg, err := m.d.load(name)
	if err != nil {
		m.setupErr = oneLine(err.Error())
		return
	}
	m.base = cfg
	m.tuning = m.tuning.Load(cfg)
	m.picker = m.picker.Load(cfg)
	m.header = m.header.SetProfile(profileName(cfg))
	m.chart = newLatencyChart(m.sh, cfg.Baselines.MaxAvgLatency)
}

// moveFocus walks the setup rows, suites first, then knobs.
func (m *model) moveFocus(d int) {
	p, t := m.picker.ClearNotice(), m.tuning
	switch {
	case p.Focused() && d > 0 && p.Cursor() == p.Len()-1:
		p, t = p.Blur(), t.Focus().Select(0)
	case p.Focused():
		p = p.Select(p.Cursor() + d)
	case d < 0 && t.Cursor() == 0:
		p, t = p.Focus().Select(p.Len()-1), t.Blur()
	default:
		t = t.Select(t.Cursor() + d)
	}
	m.picker, m.tuning = p, t
}

// config is the run the setup screen describes, or on the dashboard the
// run as retuned so far.
func (m model) config() suites.Config {
	if m.screen != screenSetup && m.run != nil {
		return m.tuning.Apply(m.runCfg)
	}
	cfg := m.tuning.Apply(m.base)
	cfg.Suites = m.picker.Chosen()
	return cfg
}

// start validates the settings and starts the run: its command runs the
// runner, a tick redraws from its snapshots.
func (m model) start() (tea.Model, tea.Cmd) {
	cfg := m.config()
	if err := cfg.Validate(); err != nil {
		m.setupErr = oneLine(err.Error())
		return m, nil
	}
	r, err := m.d.newRun(cfg)
	if err != nil {
		m.setupErr = oneLine(err.Error())
		return m, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.run = m.sess.newLaunch(r, cancel)
	m.runCfg = cfg
	m.now = time.Now() // the ticks keep it from here
	m.finished, m.stopping, m.quitting, m.showHelp, m.paused = false, false, false, false, false
	m.header = m.header.SetStopping(false)
	m.table = newOpTable(m.sh)
	m.chart = newLatencyChart(m.sh, cfg.Baselines.MaxAvgLatency)
	m.rate = newRateChart(m.sh)
	m.cluster = newClusterPanel(m.sh)
	m.events = m.events.Reset()
	m.checks = newChecksLine(m.sh).SetWidth(m.sh.width)
	m.limit = newBottleneckLine(m.sh).SetWidth(m.sh.width)
	m.summary = newSummary(m.sh)
	m.tuning = m.tuning.Live()
	m.notice = notice{}
	m.setScreen(screenDashboard)
	m.tickID++
	m = m.apply(r.Latest())
	return m, tea.Batch(m.run.start(ctx), m.tick())
}

func (m model) tick() tea.Cmd {
	id := m.tickID
	return tea.Tick(frame, func(t time.Time) tea.Msg { return tickMsg{id: id, at: t} })
}

func (m model) onTick(msg tickMsg) (tea.Model, tea.Cmd) {
	if msg.id != m.tickID || m.run == nil || m.finished {
		return m, nil
	}
	m.now = msg.at
	m = m.apply(m.run.runner.Latest())
	m, cmd := m.applySettled()
	return m, tea.Batch(cmd, m.tick())
}

func (m model) onRunDone(msg runDoneMsg) (tea.Model, tea.Cmd) {
	if m.run == nil || msg.id != m.run.id {
		return m, nil
	}
	m.finished = true
	m.tickID++ // no more ticks for this run
	m.summary = m.summary.SetResult(msg.report, msg.err)
	m = m.apply(m.run.runner.Latest())
	if m.quitting {
		return m, tea.Quit
	}
	m.setScreen(screenSummary)
	return m.layout(), nil
}

// apply hands a snapshot to the components that show it.
func (m model) apply(s *metrics.Snapshot) model {
	if s == nil {
		return m
	}
	msg := snapshotMsg{snap: s}
	rows := m.table.Len()
	m.paused = s.Paused
	m.header, _ = m.header.Update(msg)
	m.table, _ = m.table.Update(msg)
	m.gauges, _ = m.gauges.Update(msg)
	m.cluster, _ = m.cluster.Update(msg)
	m.events, _ = m.events.Update(msg)
	m.checks, _ = m.checks.Update(msg)
	m.limit, _ = m.limit.Update(msg)
	m.tuning = m.tuning.Follow(s)
	m.summary, _ = m.summary.Update(msg)
	if (s.Phase == metrics.PhaseDone || s.Phase == metrics.PhaseFailed) && m.screen == screenDashboard && !m.quitting {
		m.setScreen(screenSummary)
		rows = -1
	}
	m.table = m.table.ShowTotal(m.screen == screenSummary)
	m.limit = m.limit.Final(m.screen == screenSummary)
	if m.table.Len() != rows {
		m = m.layout()
	}
	return m.syncChart()
}

// syncChart points the chart at the table's selected op.
func (m model) syncChart() model {
	op, ok := m.table.Selected()
	m.chart = m.chart.SetOp(op, ok, m.table.SelectedSlow())
	m.rate = m.rate.SetOp(op, ok)
	m.phases = m.phases.SetOp(op, ok)
	return m
}

// Sizes: the side-by-side layout needs this width; the chart is hidden
// below minChart lines and gets at most maxEvents lines of log below it.
const (
	sideBySide = 140
	minChart   = 5
	maxEvents  = 8
)

// minExplainHeight is the least terminal height at which the dashboard
// shows the phases and bottleneck lines.
const minExplainHeight = 16

// layout shares the terminal out among the components: header and footer
// take a line each; the body goes to the table, gauges and cluster line
// first, the event log next, and the chart takes what is left.
func (m model) layout() model {
	w, h := m.sh.width, m.sh.height
	m.help.Width = w
	m.header = m.header.SetSize(w)
	m.picker = m.picker.SetSize(w)
	m.tuning = m.tuning.SetSize(w)
	m.gauges = m.gauges.SetSize(w)
	m.checks = m.checks.SetWidth(w)
	m.limit = m.limit.SetWidth(w)
	m.phases = m.phases.SetWidth(w)
	body := max(h-2, 1)
	events := min(max(body/7, 1), maxEvents)
	rows := max(m.table.Len(), 1)

	if m.screen == screenSummary {
		// Final figures, the verdicts, the checks, the log; the chart if
		// room is left.
		body = max(body-2, 1) // the checks and bottleneck lines
		tableRows := min(rows, max(body/2-1, 1))
		m.table = m.table.SetSize(w, tableRows+1)
		m.summary = m.summary.SetSize(w, max(body-(tableRows+1)-events, 2))
		rest := body - (tableRows + 1) - m.summary.Height()
		chartH := rest - events
		if chartH < minChart {
			chartH = 0
		}
		m.chart = m.chart.SetSize(w, chartH)
		m.events = m.events.SetSize(w, max(rest-chartH, 0))
		m.rate = m.rate.SetSize(w, 0)
		return m
	}

	clusterH := 1
	if h >= 40 {
		clusterH = 3
	}
	m.cluster = m.cluster.SetSize(w, clusterH)
	// The phases and bottleneck lines explain the figures; on a short
	// terminal the figures themselves come first.
	m.explain = h >= minExplainHeight
	fixed := 1 + m.gauges.Height() + clusterH + 1 // the tuning line, gauges, cluster, checks
	if m.explain {
		fixed += 2 // the phases and bottleneck lines
	}
	avail := body - fixed - events
	// The event log gives lines up, down to one, so that the table shows
	// every row before the chart has to shrink.
	if short := rows - (avail - minChart - 1); short > 0 {
		give := min(short, events-1)
		events, avail = events-give, avail+give
	}
	tableRows := min(rows, max(avail-minChart-1, 1))
	chartH := avail - (tableRows + 1)
	if chartH < minChart {
		// No room for a chart: the table and the log share its lines,
		// the log keeping at least one.
		chartH = 0
		tableRows = min(rows, max(body-fixed-2, 1))
		events = max(body-fixed-(tableRows+1), 0)
	}
	m.table = m.table.SetSize(w, tableRows+1)
	m.events = m.events.SetSize(w, events)
	switch {
	case w >= sideBySide:
		latW := w * 3 / 5
		m.chart = m.chart.SetSize(latW, chartH)
		m.rate = m.rate.SetSize(w-latW-2, chartH)
	case chartH >= 2*minChart+2:
		latH := chartH * 3 / 5
		m.chart = m.chart.SetSize(w, latH)
		m.rate = m.rate.SetSize(w, chartH-latH)
	default:
		m.chart = m.chart.SetSize(w, chartH)
		m.rate = m.rate.SetSize(w, 0)
	}
	return m
}

// View draws the screen: exactly as many lines as the terminal has, none
// wider than it.
func (m model) View() string {
	w, h := m.sh.width, m.sh.height
	if w <= 0 || h <= 0 {
		return ""
	}
	bodyH := max(h-2, 0)
	var body string
	switch {
	case m.prompt.Active():
		body = m.prompt.View(w, bodyH)
	case m.showHelp:
		body = m.helpView(w, bodyH)
	case m.screen == screenSetup:
		body = m.setupView()
	case m.screen == screenSummary:
		body = m.summaryView()
	default:
		body = m.dashboardView()
	}
	out := m.header.View() + "\n" + block(body, bodyH) + "\n" + m.footer()
	return block(fit(out, w), h)
}

func (m model) setupView() string {
	st := m.sh.styles
	cfg := m.config()
	planned := time.Duration(len(cfg.Suites)) * cfg.Duration
	parts := []string{
		m.picker.View(),
		"",
		m.tuning.View(),
		"",
		fit(st.Dim.Render("replicas "+strconv.Itoa(cfg.Replicas())+" per shard · planned load "+clock(planned)+
			" · baseline avg latency "+baselineText(cfg.Baselines.MaxAvgLatency)+scripted(cfg.At)), m.sh.width),
	}
	if m.setupErr != "" {
		parts = append(parts, "", st.Error.Render(fit("✗ "+m.setupErr, m.sh.width)))
	}
	return strings.Join(parts, "\n")
}

func baselineText(d time.Duration) string {
	if d <= 0 {
		return "off"
	}
	return "< " + metrics.FormatDuration(d)
}

func (m model) dashboardView() string {
	parts := []string{m.table.View()}
	if m.explain {
		parts = append(parts, m.phases.View())
	}
	parts = append(parts, m.tuning.View())
	switch {
	case m.chart.Height() == 0:
	case m.sh.width >= sideBySide:
		parts = append(parts, lipgloss.JoinHorizontal(lipgloss.Top,
			block(m.chart.View(), m.chart.Height()), "  ", block(m.rate.View(), m.rate.Height())))
	default:
		parts = append(parts, block(m.chart.View(), m.chart.Height()))
		if m.rate.Height() > 0 {
			parts = append(parts, block(m.rate.View(), m.rate.Height()))
		}
	}
	parts = append(parts, m.gauges.View())
	if m.explain {
		parts = append(parts, m.limit.View())
	}
	return strings.Join(append(parts, m.cluster.View(), m.checks.View(), m.events.View()), "\n")
}

func (m model) summaryView() string {
	parts := []string{m.table.View(), m.summary.View()}
	if m.chart.Height() > 0 {
		parts = append(parts, block(m.chart.View(), m.chart.Height()))
	}
	return strings.Join(append(parts, m.limit.View(), m.checks.View(), m.events.View()), "\n")
}

// helpView is the overlay of every key that works on this screen: one
// block per group, packed side by side as the width allows, stacked
// otherwise.
func (m model) helpView(w, h int) string {
	st := m.sh.styles
	var blocks []string
	for _, group := range m.sh.keys.FullHelp() {
		if b := helpBlock(st, group); b != "" {
			blocks = append(blocks, b)
		}
	}
	room := max(w-6, 10) // the box's border and padding
	var rows []string
	var row []string
	rowW := 0
	for _, b := range blocks {
		bw := lipgloss.Width(b)
		if len(row) > 0 && rowW+3+bw > room {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, rowW = nil, 0
		}
		if len(row) > 0 {
			row, rowW = append(row, "   "), rowW+3
		}
		row, rowW = append(row, b), rowW+bw
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	body := st.Section.Render("KEYS") + "\n\n" + strings.Join(rows, "\n\n") + "\n\n" + st.Dim.Render("? or esc closes this")
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, st.Overlay.Render(fit(body, room)))
}

// helpBlock is a group of enabled bindings, keys in one column and what
// they do in the next.
func helpBlock(st Styles, group []key.Binding) string {
	keyW := 0
	var on []key.Binding
	for _, b := range group {
		if b.Enabled() && b.Help().Key != "" {
			on = append(on, b)
			keyW = max(keyW, lipgloss.Width(b.Help().Key))
		}
	}
	lines := make([]string, len(on))
	for i, b := range on {
		lines[i] = st.Help.FullKey.Render(pad(b.Help().Key, keyW)) + " " + st.Help.FullDesc.Render(b.Help().Desc)
	}
	return strings.Join(lines, "\n")
}

func (m model) footer() string {
	if m.screen == screenDashboard && m.stopping && !m.finished {
		return fit(m.sh.styles.Warn.Render("stopping… the cluster is shutting down (q again to quit at once)"), m.sh.width)
	}
	if n := m.noticeView(); n != "" {
		return fit(n, m.sh.width)
	}
	return fit(m.help.ShortHelpView(m.sh.keys.ShortHelp()), m.sh.width)
}

// block makes s exactly h lines: cut at the bottom or padded with blanks.
func block(s string, h int) string {
	if h <= 0 {
		return ""
	}
	ls := strings.Split(s, "\n")
	if len(ls) > h {
		ls = ls[:h]
	}
	for len(ls) < h {
		ls = append(ls, "")
	}
	return strings.Join(ls, "\n")
}

func profileName(cfg suites.Config) string {
	if cfg.Profile == "" {
		return "custom"
	}
	return cfg.Profile
}

// scripted names the profile's scripted changes, which run as they are
// whatever the knobs say: " · scripted: 10s clients=20, 20s kill-leader".
func scripted(at []knob.TimedAction) string {
	if len(at) == 0 {
		return ""
	}
	parts := make([]string, len(at))
	for i, a := range at {
		parts[i] = knob.FormatDuration(a.At) + " " + a.Action.String()
	}
	return " · scripted: " + strings.Join(parts, ", ")
}

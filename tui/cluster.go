package tui

import (
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites/metrics"
)

// clusterLine is the embedded cluster in one line: nodes (★ leads shards,
// ✗ down), leader changes, the worst replication lag, shard leaders.
type clusterLine struct {
	sh    *shared
	width int
	c     metrics.Cluster
	seen  bool // a snapshot with the cluster up has arrived
}

func newClusterLine(sh *shared) clusterLine { return clusterLine{sh: sh} }

func (c clusterLine) SetSize(width int) clusterLine { c.width = width; return c }

func (c clusterLine) Update(msg tea.Msg) (clusterLine, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		c.c = m.snap.Cluster
		c.seen = c.seen || len(c.c.Nodes) > 0
	}
	return c, nil
}

func (c clusterLine) View() string {
	st := c.sh.styles
	head := st.Section.Render("CLUSTER") + " "
	if len(c.c.Nodes) == 0 {
		msg := "starting…"
		if c.seen {
			msg = "shut down"
		}
		return fit(head+st.Dim.Render(msg), c.width)
	}
	var lag uint64
	leaderless := 0
	for _, s := range c.c.Shards {
		lag = max(lag, s.MaxLag)
		if s.Leader == "" {
			leaderless++
		}
	}
	up := 0
	for _, n := range c.c.Nodes {
		if n.Up {
			up++
		}
	}
	nodes := strconv.Itoa(up) + "/" + strconv.Itoa(len(c.c.Nodes)) + " up"
	if up < len(c.c.Nodes) {
		nodes = st.Violation.Render(nodes)
	} else {
		nodes = st.Value.Render(nodes)
	}
	parts := []string{
		nodes,
		"leader changes " + st.Value.Render(strconv.FormatUint(c.c.LeaderChanges, 10)),
		"max lag " + st.Value.Render(strconv.FormatUint(lag, 10)),
	}
	if leaderless > 0 {
		parts = append(parts, st.Warn.Render(strconv.Itoa(leaderless)+" shard(s) without a leader"))
	}

	var ns []string
	for _, n := range c.c.Nodes {
		switch {
		case !n.Up:
			ns = append(ns, st.Violation.Render(n.ID+"✗"))
		case n.Leaderships > 1:
			ns = append(ns, st.Value.Render(n.ID+"★"+strconv.Itoa(n.Leaderships)))
		case n.Leaderships == 1:
			ns = append(ns, st.Value.Render(n.ID+"★"))
		default:
			ns = append(ns, n.ID)
		}
	}
	parts = append(parts, strings.Join(ns, " "))

	var ss []string
	for _, s := range c.c.Shards {
		leader := s.Leader
		if leader == "" {
			leader = st.Warn.Render("?")
		}
		ss = append(ss, "s"+strconv.Itoa(s.ID)+"→"+leader)
	}
	if len(ss) > 0 {
		parts = append(parts, "leaders "+strings.Join(ss, " "))
	}
	return fit(head+strings.Join(parts, st.Dim.Render(" · ")), c.width)
}

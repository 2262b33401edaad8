package tui

import (
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/phantomdb/phantom/suites/metrics"
)

// clusterPanel is the embedded cluster: a summary line (nodes up, leader
// changes, the worst replication lag, shards without a leader), then, as
// height allows, every node with its role and health and every shard with
// its leader, term and lag. On one line it packs all three, cut to width.
type clusterPanel struct {
	sh            *shared
	width, height int
	c             metrics.Cluster
	seen          bool // a snapshot with the cluster up has arrived
}

func newClusterPanel(sh *shared) clusterPanel { return clusterPanel{sh: sh, height: 1} }

// SetSize gives the panel width cells and height lines (at least one).
func (c clusterPanel) SetSize(width, height int) clusterPanel {
	c.width, c.height = width, max(height, 1)
	return c
}

func (c clusterPanel) Update(msg tea.Msg) (clusterPanel, tea.Cmd) {
	if m, ok := msg.(snapshotMsg); ok {
		c.c = m.snap.Cluster
		c.seen = c.seen || len(c.c.Nodes) > 0
	}
	return c, nil
}

// Height is the lines View takes.
func (c clusterPanel) Height() int { return lines(c.View()) }

func (c clusterPanel) View() string {
	st := c.sh.styles
	head := st.Section.Render("CLUSTER") + " "
	if len(c.c.Nodes) == 0 {
		msg := "starting…"
		if c.seen {
			msg = "shut down"
		}
		return fit(head+st.Dim.Render(msg), c.width)
	}
	sep := st.Dim.Render(" · ")
	summary, nodes, shards := c.summary(), c.nodes(), c.shards()
	if c.height < 3 {
		return fit(head+summary+sep+nodes+sep+st.Label.Render("leaders")+" "+shards, c.width)
	}
	return fit(head+summary+"\n"+st.Label.Render("nodes  ")+" "+nodes+"\n"+
		wrap(st.Label.Render("shards ")+" "+shards, c.width, c.height-2), c.width)
}

func (c clusterPanel) summary() string {
	st := c.sh.styles
	var lag uint64
	leaderless := 0
	for _, s := range c.c.Shards {
		lag = max(lag, s.MaxLag)
		if s.Leader == "" {
			leaderless++
		}
	}
	up, cut := 0, 0
	for _, n := range c.c.Nodes {
		if n.Up {
			up++
		}
		if n.Partitioned {
			cut++
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
		strconv.Itoa(len(c.c.Shards)) + " shards",
		"leader changes " + st.Value.Render(strconv.FormatUint(c.c.LeaderChanges, 10)),
		"max lag " + st.Value.Render(strconv.FormatUint(lag, 10)),
	}
	if cut > 0 {
		parts = append(parts, st.Warn.Render(strconv.Itoa(cut)+" partitioned"))
	}
	if leaderless > 0 {
		parts = append(parts, st.Warn.Render(strconv.Itoa(leaderless)+" without a leader"))
	}
	return strings.Join(parts, st.Dim.Render(" · "))
}

// nodes lists every node: ★N leads N shards; ✗ down, ⌁ partitioned,
// ? suspect, + joining.
func (c clusterPanel) nodes() string {
	st := c.sh.styles
	ns := make([]string, 0, len(c.c.Nodes))
	for _, n := range c.c.Nodes {
		switch {
		case !n.Up:
			ns = append(ns, st.Violation.Render(n.ID+"✗"))
		case n.Partitioned: // the detector calls it down too; this says why
			ns = append(ns, st.Warn.Render(n.ID+"⌁"))
		case n.State == "down":
			ns = append(ns, st.Violation.Render(n.ID+"✗"))
		case n.State == "suspect":
			ns = append(ns, st.Warn.Render(n.ID+"?"))
		case n.State == "joining":
			ns = append(ns, st.Dim.Render(n.ID+"+"))
		case n.Leaderships > 1:
			ns = append(ns, st.Value.Render(n.ID+"★"+strconv.Itoa(n.Leaderships)))
		case n.Leaderships == 1:
			ns = append(ns, st.Value.Render(n.ID+"★"))
		default:
			ns = append(ns, n.ID)
		}
		proc := n.PID > 0 && n.Up && n.CPUPercent >= 0
		var use string
		if proc {
			// A node in a process of its own: its CPU (of one core) and
			// resident memory; under --node-cpus, its quota (of one core)
			// and the share of periods it was throttled in.
			use = " " + strconv.Itoa(int(n.CPUPercent+0.5)) + "%"
			if n.QuotaCPUs > 0 {
				use += "/" + strconv.Itoa(int(n.QuotaCPUs*100+0.5)) + "%"
				if n.ThrottledPercent >= 0 {
					use += " thr " + strconv.Itoa(int(n.ThrottledPercent+0.5)) + "%"
				}
			}
			use += " " + metrics.FormatBytes(float64(n.RSSBytes))
		}
		// Its network (Raft links and API, in plus out), per second since
		// the last tick: an embedded node's too (PID 0), whose CPU and
		// memory are phantom's, not its own.
		if (proc || n.PID == 0 && n.Up) && n.HasNet && n.NetRecvBps >= 0 && n.NetSentBps >= 0 {
			use += " net " + metrics.FormatBytes(n.NetRecvBps+n.NetSentBps) + "/s"
		}
		// And its disk (read plus written), a process's.
		if proc && n.HasDisk && n.DiskReadBps >= 0 && n.DiskWriteBps >= 0 && n.DiskReadBps+n.DiskWriteBps > 0 {
			use += " disk " + metrics.FormatBytes(n.DiskReadBps+n.DiskWriteBps) + "/s"
		}
		if use != "" {
			ns[len(ns)-1] += st.Dim.Render(use)
		}
	}
	return strings.Join(ns, " ")
}

// shards lists every shard's leader, with its lag when it has one.
func (c clusterPanel) shards() string {
	st := c.sh.styles
	ss := make([]string, 0, len(c.c.Shards))
	for _, s := range c.c.Shards {
		leader := s.Leader
		if leader == "" {
			leader = st.Warn.Render("?")
		}
		e := "s" + strconv.Itoa(s.ID) + "→" + leader
		if s.MaxLag > 0 {
			e += st.Dim.Render("~" + strconv.FormatUint(s.MaxLag, 10))
		}
		ss = append(ss, e)
	}
	return strings.Join(ss, " ")
}

// wrap breaks s at spaces into at most h lines of width cells; the last
// line is cut with … when more is left.
func wrap(s string, width, h int) string {
	if width <= 0 || h <= 0 {
		return s
	}
	words := strings.Split(s, " ")
	var out []string
	line := ""
	for _, w := range words {
		switch {
		case line == "":
			line = w
		case lipgloss.Width(line)+1+lipgloss.Width(w) <= width:
			line += " " + w
		default:
			out = append(out, line)
			line = w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	if len(out) > h {
		out = out[:h]
		out[h-1] = fit(out[h-1]+" …more", width)
	}
	return strings.Join(out, "\n")
}

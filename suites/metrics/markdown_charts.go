package metrics

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// mdCharts links a Markdown report to its charts, written as SVG files in
// a directory beside it.
type mdCharts struct {
	set chartSet
	dir string // as the Markdown links it: relative to the report
}

func (c *mdCharts) link(p printf, ch *chart) {
	p("![%s](%s/%s.svg)\n", mdEscape(ch.title), c.dir, ch.id)
}

// ops links every op's charts under the ops table.
func (c *mdCharts) ops(p printf, r *Report) {
	if c == nil || len(c.set.ops) == 0 {
		return
	}
	p("\nCharts, per op: throughput and latency (p50, p99) over time, the epochs shaded and faults, elections and violations marked on the time axis; the latency spectrum from its HDR histogram.\n")
	for _, oc := range c.set.ops {
		p("\n### %s\n\n", mdEscape(oc.op.Name))
		c.link(p, oc.throughput)
		c.link(p, oc.latency)
		c.link(p, oc.spectrum)
	}
}

func (c *mdCharts) resources(p printf, r *Report) {
	if c == nil || len(c.set.resources) == 0 {
		return
	}
	p("\n")
	for _, ch := range c.set.resources {
		c.link(p, ch)
	}
}

func (c *mdCharts) scaling(p printf, r *Report) {
	if c == nil || len(c.set.scaling) == 0 {
		return
	}
	p("\n")
	for _, ch := range c.set.scaling {
		c.link(p, ch)
	}
}

// ChartsDir is the directory the charts of the Markdown report at path
// go to: out.md's in out-charts, beside it.
func ChartsDir(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + "-charts"
}

// WriteMarkdownFiles writes the Markdown report to path and its charts
// as SVG files in ChartsDir(path), every file atomically, the charts
// first; the report links them. SVG files left in that directory by an
// earlier report and no longer drawn are removed. Like WriteHTML, the
// output is a function of the report's JSON alone.
func WriteMarkdownFiles(path string, r *Report) error {
	rr, err := viaJSON(r)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// A device or pipe (/dev/stdout): the report alone, no files beside it.
		return WriteFileAtomic(path, func(w io.Writer) error { return WriteMarkdown(w, rr) })
	}
	dir := ChartsDir(path)
	set := rr.charts()
	all := set.all()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, ch := range all {
		name := ch.id + ".svg"
		keep[name] = true
		var b bytes.Buffer
		b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
		ch.svg(&b, true)
		if err := WriteFileAtomic(filepath.Join(dir, name), func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err }); err != nil {
			return err
		}
	}
	if old, err := filepath.Glob(filepath.Join(dir, "*.svg")); err == nil {
		for _, f := range old {
			if !keep[filepath.Base(f)] {
				os.Remove(f)
			}
		}
	}
	c := &mdCharts{set: set, dir: filepath.ToSlash(filepath.Base(dir))}
	return WriteFileAtomic(path, func(w io.Writer) error { return writeMarkdown(w, rr, c) })
}

// all lists every chart of the set once.
func (s chartSet) all() []*chart {
	var out []*chart
	for _, oc := range s.ops {
		out = append(out, oc.throughput, oc.latency, oc.spectrum)
	}
	out = append(out, s.resources...)
	return append(out, s.scaling...)
}

package tui

import (
	"fmt"
	"io"
	"time"

	"github.com/phantomdb/phantom/profiles"
	"github.com/phantomdb/phantom/profiles/runconfig"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// defaultDeps are the real doors: the suites runner, the profile store,
// report files in the working directory.
func defaultDeps() deps {
	return deps{
		newRun:   newRunner,
		profiles: profileNames,
		load: func(name string) (suites.Config, error) {
			p, err := profiles.Find(name)
			if err != nil {
				return suites.Config{}, err
			}
			return runconfig.Config(p)
		},
		save: func(name string, cfg suites.Config) (string, error) {
			return profiles.Save(runconfig.FromConfig(name, cfg))
		},
		export: func(r *metrics.Report) ([]string, error) {
			return exportFiles(r, "phantom-report-"+time.Now().Format("20060102-150405"))
		},
	}
}

// profileNames are the profiles the setup screen offers: the built-ins and
// the user's that load.
func profileNames() []string {
	list, err := profiles.List()
	if err != nil {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for _, e := range list {
		if e.Err == nil && !seen[e.Name] {
			names, seen[e.Name] = append(names, e.Name), true
		}
	}
	return names
}

// exportFiles writes r as base.json, base.md (its charts as SVG files in
// base-charts) and base.html, each atomically.
func exportFiles(r *metrics.Report, base string) ([]string, error) {
	files := []struct {
		path  string
		write func(path string) error
	}{
		{base + ".json", func(p string) error {
			return metrics.WriteFileAtomic(p, func(w io.Writer) error { return metrics.WriteJSON(w, r) })
		}},
		{base + ".md", func(p string) error { return metrics.WriteMarkdownFiles(p, r) }},
		{base + ".html", func(p string) error {
			return metrics.WriteFileAtomic(p, func(w io.Writer) error { return metrics.WriteHTML(w, r) })
		}},
	}
	var paths []string
	for _, f := range files {
		if err := f.write(f.path); err != nil {
			return paths, fmt.Errorf("writing %s: %w", f.path, err)
		}
		paths = append(paths, f.path)
	}
	return paths, nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/phantomdb/phantom/suites/metrics"
)

const reportHelp = `Usage: phantom report FILE.json [--html OUT] [--markdown OUT] [--csv FILE.csv]

Renders a saved JSON report again — later, elsewhere, or for an older run:
--html writes the self-contained HTML page, --markdown the Markdown report
with its charts as SVG files in OUT-charts/ beside it (out.md: out-charts/).
The page is the same, byte for byte, as the one 'phantom run --html' wrote
for the run. Without an output flag, the summary is printed.

A report from before the per-tick series were kept has no charts over
time; --csv gives them from the run's --csv time series (the JSON's own
series, where it has them, win).

Exit codes: 0 written · 2 bad usage or a file that is not a phantom report
· 3 an output could not be written.

Examples:
  phantom report run.json --html run.html
  phantom report old.json --csv old.csv --markdown old.md

Flags:
`

// runReport renders the reports of a saved JSON report.
func runReport(args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("phantom report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	htmlOut := fs.String("html", "", "write the HTML page to this file (atomically)")
	mdOut := fs.String("markdown", "", "write the Markdown report to this file and its SVG charts in FILE-charts/ beside it (atomically)")
	csvIn := fs.String("csv", "", "the run's per-tick CSV time series, for the charts of a report without series of its own")
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, reportHelp)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitPass, nil
		}
		return exitUsage, usagef("%s", strings.Replace(err.Error(), "-", "--", 1))
	}
	if fs.NArg() != 1 {
		return exitUsage, usagef("report takes one JSON report file; got %d", fs.NArg())
	}
	for _, path := range []string{*htmlOut, *mdOut} {
		if path == "" {
			continue
		}
		if err := checkWritable(path); err != nil {
			return exitUsage, usagef("%s", err)
		}
	}
	r, err := metrics.ReadReport(fs.Arg(0))
	if err != nil {
		return exitUsage, usagef("%s", err)
	}
	if *csvIn != "" {
		if err := metrics.SeriesFromCSV(r, *csvIn); err != nil {
			return exitUsage, usagef("%s", err)
		}
	}
	if *htmlOut == "" && *mdOut == "" {
		return exitPass, metrics.WriteSummary(stdout, r)
	}
	if *mdOut != "" {
		if err := metrics.WriteMarkdownFiles(*mdOut, r); err != nil {
			return exitRunFailed, err
		}
	}
	if *htmlOut != "" {
		if err := metrics.WriteFileAtomic(*htmlOut, func(w io.Writer) error { return metrics.WriteHTML(w, r) }); err != nil {
			return exitRunFailed, err
		}
	}
	return exitPass, nil
}

// parseInterspersed parses flags given before, between or after the
// positional arguments, which stay in fs.Args in their order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

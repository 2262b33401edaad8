package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// TestHTMLReport runs a short headless run with a crash, writing every
// report, then checks that 'phantom report' renders the same HTML and
// charts from the JSON, and that the page renders in a real browser.
func TestHTMLReport(t *testing.T) {
	dir := t.TempDir()
	js, page, md := filepath.Join(dir, "run.json"), filepath.Join(dir, "run.html"), filepath.Join(dir, "run.md")
	var r *metrics.Report
	var first []byte
	// A loaded machine can hold the runner's loop past the suite's end,
	// so the scripted crash never comes: the run is tried again then.
	for try := 1; ; try++ {
		var out, errb bytes.Buffer
		code := realMain([]string{"run", "--suites", "consensus", "--nodes", "3", "--clients", "4", "--duration", "2500ms", "--at", "1s:crash=n3",
			"--report", js, "--html", page, "--markdown", md, "--csv", filepath.Join(dir, "run.csv")}, &out, &errb)
		if code != exitPass && code != exitViolated {
			t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
		}
		var err error
		if r, err = metrics.ReadReport(js); err != nil {
			t.Fatal(err)
		}
		if first, err = os.ReadFile(page); err != nil {
			t.Fatal(err)
		}
		fault := slices.ContainsFunc(r.Events, func(e metrics.EventReport) bool { return e.Kind == string(metrics.EventFault) })
		if fault {
			break
		}
		if try == 3 {
			t.Fatalf("the run's crash is no fault event, %d tries: %+v", try, r.Events)
		}
		t.Logf("try %d: the scripted crash did not come before the suite's end (a busy machine); trying again", try)
	}
	if !bytes.Contains(first, []byte(`data-kind="fault"`)) {
		t.Errorf("the page marks no fault")
	}
	for suite, s := range r.Suites {
		for name, o := range s.Ops {
			if o.Series == nil || (o.Count > 0 && len(o.LatencySpectrum) == 0) {
				t.Errorf("%s %s: no series or spectrum in the JSON report", suite, name)
				continue
			}
			// The spectrum is of the whole run: it ends at the op's max.
			if sp := o.LatencySpectrum; len(sp) > 0 && math.Abs(sp[len(sp)-1].Ms-o.LatencyMs.Max) > 0.001 {
				t.Errorf("%s: the spectrum ends at %v ms, the op's max is %v ms", name, sp[len(sp)-1].Ms, o.LatencyMs.Max)
			}
			var n uint64
			for _, c := range o.Series.Count {
				n += c
			}
			if n != o.Count {
				t.Errorf("%s: the series counts %d ops, the op %d", name, n, o.Count)
			}
		}
	}

	t.Run("report reproduces the page", func(t *testing.T) {
		again, md2 := filepath.Join(dir, "again.html"), filepath.Join(dir, "again.md")
		var out, errb bytes.Buffer
		if code := realMain([]string{"report", js, "--html", again, "--markdown", md2}, &out, &errb); code != exitPass {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		second, _ := os.ReadFile(again)
		if !bytes.Equal(first, second) {
			t.Errorf("phantom report wrote %d bytes of HTML, --html %d: they differ", len(second), len(first))
		}
		m1, _ := os.ReadFile(md)
		m2, _ := os.ReadFile(md2)
		if !bytes.Equal(bytes.ReplaceAll(m1, []byte("run-charts/"), []byte("again-charts/")), m2) {
			t.Errorf("the Markdown reports differ")
		}
		svgs, _ := filepath.Glob(filepath.Join(dir, "run-charts", "*.svg"))
		if len(svgs) < 3*len(r.Suites["consensus"].Ops) {
			t.Errorf("%d SVG charts beside the Markdown, want 3 per op at least", len(svgs))
		}
		for _, f := range svgs {
			a, _ := os.ReadFile(f)
			b, err := os.ReadFile(filepath.Join(dir, "again-charts", filepath.Base(f)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s differs when rendered again (%v)", filepath.Base(f), err)
			}
			if !bytes.Contains(m1, []byte("(run-charts/"+filepath.Base(f)+")")) {
				t.Errorf("the Markdown does not link %s", filepath.Base(f))
			}
		}
	})

	t.Run("compare --html", func(t *testing.T) {
		cmp := filepath.Join(dir, "cmp.html")
		var out, errb bytes.Buffer
		if code := realMain([]string{"compare", js, js, "--html", cmp}, &out, &errb); code != exitPass {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		b, err := os.ReadFile(cmp)
		if err != nil || !bytes.Contains(b, []byte("NO REGRESSION")) {
			t.Errorf("compare --html wrote no verdict (%v)", err)
		}
	})

	t.Run("browser", func(t *testing.T) { browserCheck(t, first, r) })
}

// chromium finds a headless-capable Chromium; without one the browser
// test skips, unless PHANTOM_BROWSER=1 says it must run.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PHANTOM_BROWSER") == "1" {
		t.Fatal("PHANTOM_BROWSER=1 but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("no chromium; install it, or set PHANTOM_BROWSER=1 to make this a failure")
	return ""
}

// probeHead collects the page's errors; probeTail measures the laid-out
// page and writes what it found into the DOM for --dump-dom to return:
// per op, the charts drawn and the fault marks that sit on a time chart's
// axis, inside its plot.
const probeHead = `<script>window.__errs=[];window.addEventListener("error",function(e){window.__errs.push(String(e.message))});</script>`

const probeTail = `<script>(function(){
var res={errors:window.__errs,ops:{}};
document.querySelectorAll("article.op").forEach(function(a){
 var o={charts:0,faults:0};
 a.querySelectorAll("svg.chart").forEach(function(s){
  var r=s.getBoundingClientRect(); if(r.width>200&&r.height>60){o.charts++}
  var plot=s.querySelector("rect.plot"); if(!plot){return}
  var p=plot.getBoundingClientRect();
  s.querySelectorAll("g.mark.fault").forEach(function(m){
   var b=m.getBoundingClientRect();
   var cs=getComputedStyle(m.querySelector("line"));
   if(b.width>0&&b.left>=p.left-5&&b.right<=p.right+5&&Math.abs(b.bottom-p.bottom)<12&&cs.display!=="none"&&cs.visibility!=="hidden"){o.faults++}
  });
 });
 res.ops[a.getAttribute("data-op")]=o;
});
var pre=document.createElement("pre");pre.id="phantom-probe";pre.textContent=JSON.stringify(res);document.body.appendChild(pre);
})();</script>`

type probe struct {
	Errors []string `json:"errors"`
	Ops    map[string]struct {
		Charts, Faults int
	} `json:"ops"`
}

// runChromium loads page (with the probes) and returns the probe's
// findings and the console lines chromium logged.
func runChromium(t *testing.T, bin, dir string, page []byte, shot string) (probe, []string) {
	t.Helper()
	p := bytes.Replace(page, []byte("<head>"), []byte("<head>"+probeHead), 1)
	p = bytes.Replace(p, []byte("</body>"), []byte(probeTail+"</body>"), 1)
	file := filepath.Join(dir, "probed.html")
	if err := os.WriteFile(file, p, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0", "--window-size=1400,2000"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+file)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	var console []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") {
			console = append(console, l)
		}
	}
	m := regexp.MustCompile(`<pre id="phantom-probe">([^<]*)</pre>`).FindSubmatch(stdout.Bytes())
	if m == nil {
		t.Fatalf("the page's probe did not run; console: %q", console)
	}
	var pr probe
	raw := strings.NewReplacer("&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(string(m[1]))
	if err := json.Unmarshal([]byte(raw), &pr); err != nil {
		t.Fatalf("probe output %q: %v", raw, err)
	}
	if shot != "" {
		cmd := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, "file://"+filepath.Join(dir, "probed.html"))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("chromium --screenshot: %v\n%s", err, out)
		}
	}
	return pr, console
}

func browserCheck(t *testing.T, page []byte, r *metrics.Report) {
	bin := chromium(t)
	art := filepath.Join(os.TempDir(), "phantom-html-artifacts")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(art, "report.png")
	pr, console := runChromium(t, bin, t.TempDir(), page, shot)
	if err := os.WriteFile(filepath.Join(art, "report.html"), page, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot and page kept in %s", art)
	if len(console) > 0 || len(pr.Errors) > 0 {
		t.Errorf("console errors: %q %q", console, pr.Errors)
	}
	var faults []float64
	for _, e := range r.Events {
		if e.Kind == string(metrics.EventFault) {
			faults = append(faults, e.AtSeconds)
		}
	}
	for suite, s := range r.Suites {
		for name, o := range s.Ops {
			got, ok := pr.Ops[name]
			if !ok {
				t.Errorf("%s %s: no section rendered", suite, name)
				continue
			}
			if got.Charts != 3 {
				t.Errorf("%s: %d charts rendered, want 3", name, got.Charts)
			}
			ser := o.Series
			if ser == nil {
				continue
			}
			// Each fault within the op's span, on both its time charts.
			from, to := ser.AtS[0]-ser.SpanS[0], ser.AtS[len(ser.AtS)-1]
			want := 0
			for _, at := range faults {
				if at >= from && at <= to {
					want += 2
				}
			}
			if name == "consensus.submit" && want == 0 {
				t.Errorf("the crash at %v s is outside the primary op's span %.2f-%.2f s", faults, from, to)
			}
			if got.Faults != want {
				t.Errorf("%s: %d fault marks on its time axes, want %d (faults at %v s, on throughput and latency)", name, got.Faults, want, faults)
			}
		}
	}
	if t.Failed() {
		return
	}
	// The same probe catches what it is there for: a page with an error.
	broken := bytes.Replace(page, []byte("</body>"), []byte("<script>null.boom()</script></body>"), 1)
	broken = bytes.ReplaceAll(broken, []byte(`class="mark fault"`), []byte(`class="mark gone"`))
	pr, console = runChromium(t, bin, t.TempDir(), broken, "")
	if len(console) == 0 || len(pr.Errors) == 0 {
		t.Errorf("a page with a script error showed none: console %q, errors %q", console, pr.Errors)
	}
	for _, o := range pr.Ops {
		if o.Faults != 0 {
			t.Errorf("the probe counted fault marks on a page without any")
		}
	}
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	notReport := filepath.Join(dir, "notes.json")
	os.WriteFile(notReport, []byte(`{"hello": 1}`), 0o644)
	report := filepath.Join(dir, "r.json")
	os.WriteFile(report, []byte(`{"schema": "phantom.report/v1", "suites": {}}`), 0o644)
	badCSV := filepath.Join(dir, "bad.csv")
	os.WriteFile(badCSV, []byte("a,b\n1,2\n"), 0o644)
	badRow := filepath.Join(dir, "row.csv")
	os.WriteFile(badRow, []byte(metrics.SeriesHeader+"\n1.0,s,s.op,x,0,0,0,0,0,0,0,0,0\n"), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"report"}, "report takes one JSON report file; got 0"},
		{"two files", []string{"report", report, report}, "got 2"},
		{"missing file", []string{"report", filepath.Join(dir, "nope.json")}, "cannot read report"},
		{"not a report", []string{"report", notReport, "--html", filepath.Join(dir, "x.html")}, "is not a phantom report"},
		{"unknown flag", []string{"report", report, "--pdf", "x"}, "flag provided but not defined: --pdf"},
		{"html in missing dir", []string{"report", report, "--html", filepath.Join(dir, "no", "x.html")}, "cannot write the report"},
		{"markdown is a dir", []string{"report", report, "--markdown", dir}, "is a directory"},
		{"csv not a series", []string{"report", report, "--csv", badCSV, "--html", filepath.Join(dir, "x.html")}, "is not a phantom time series"},
		{"csv bad row", []string{"report", report, "--csv", badRow, "--html", filepath.Join(dir, "x.html")}, "line 2: column 4 is not a number"},
		{"csv missing", []string{"report", report, "--csv", filepath.Join(dir, "nope.csv")}, "cannot read the time series"},
		{"compare html in missing dir", []string{"compare", report, report, "--html", filepath.Join(dir, "no", "x.html")}, "cannot write the report"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := realMain(c.args, &out, &errb); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			msg := errb.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "phantom: ") || !strings.Contains(msg, c.want) {
				t.Errorf("stderr %q, want one line saying %q", msg, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.html")); err == nil {
		t.Errorf("a failed report command wrote its output")
	}
}

// TestReportFromCSV: an older report without series gets its charts over
// time from the run's CSV.
func TestReportFromCSV(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	os.WriteFile(report, []byte(`{"schema": "phantom.report/v1", "suites": {"s": {"ops": {"s.op": {"count": 3, "ops_per_sec": 12}}}}}`), 0o644)
	csv := filepath.Join(dir, "r.csv")
	os.WriteFile(csv, []byte(metrics.SeriesHeader+"\n0.250,s,s.op,1,0,4.0,1,1,1,1,1.500,1,1\n0.500,s,s.op,2,1,8.0,1,1,1,1,2.500,1,1\n"), 0o644)
	page := filepath.Join(dir, "r.html")
	var out, errb bytes.Buffer
	if code := realMain([]string{"report", "--csv", csv, report, "--html", page}, &out, &errb); code != exitPass {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, _ := os.ReadFile(page)
	if bytes.Contains(b, []byte("no series in this report")) || !bytes.Contains(b, []byte(`class="ln c1"`)) {
		t.Errorf("the CSV's series did not reach the charts")
	}
	if code := realMain([]string{"report", report}, &out, &errb); code != exitPass || !strings.Contains(out.String(), "s.op") {
		t.Errorf("report without an output flag: exit %d, stdout %q", code, out.String())
	}
}

// The exit code the HTML page shows is the one phantom gave: a run's
// error is in its report's error field.
func TestPageExitCodeIsPhantoms(t *testing.T) {
	violated := []metrics.Check{{Name: "ledger", Suite: "txn", Verdict: metrics.CheckViolated}}
	failedBaseline := []metrics.BaselineReport{{Pass: false}}
	for _, r := range []metrics.Report{
		{}, {Baselines: failedBaseline}, {Checks: violated, Baselines: failedBaseline}, {Checks: violated, Interrupted: true},
		{Error: "boom"}, {Checks: violated, Error: "boom"}, {Interrupted: true}, {Interrupted: true, Baselines: failedBaseline},
	} {
		var runErr error
		if r.Error != "" {
			runErr = errors.New(r.Error)
		}
		if got, want := r.ExitCode(), outcome(&r, runErr); got != want {
			t.Errorf("%+v: the page says exit %d, phantom gives %d", r, got, want)
		}
	}
}

package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// syntheticOps are the ops of all six suites.
var syntheticOps = map[string][]string{
	"consensus":   {"consensus.submit", "consensus.read", "consensus.replicate", "consensus.election"},
	"txn":         {"txn.commit", "txn.saga", "txn.prepare", "txn.decide", "txn.compensate"},
	"query":       {"query.aggregate", "query.plan", "query.shard_exec", "query.merge"},
	"concurrency": {"concurrency.read", "concurrency.write", "concurrency.rmw"},
	"cluster":     {"cluster.status", "cluster.heartbeat", "cluster.node_add", "cluster.node_remove"},
	"scalability": {"scalability.submit"},
}

// syntheticReport is a run of ticks points per op, every suite's ops at
// once, with resources, epochs, faults, elections and a violation: the
// shape of a ten-minute run at one point a second when ticks is 600.
func syntheticReport(ticks int, nodes int) *Report {
	rng := rand.New(rand.NewSource(1))
	r := &Report{Schema: ReportSchema, Version: "test", Settings: map[string]any{"nodes": 3, "suites": []string{"consensus", "txn"}, "baselines": map[string]any{"min_ops_per_sec": 1000}},
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), EndedAt: time.Date(2026, 1, 2, 3, 14, 5, 0, time.UTC),
		ElapsedSeconds: float64(ticks), Suites: map[string]SuiteReport{}, Load: LoadReport{Model: "closed"}}
	for suite, ops := range syntheticOps {
		sr := SuiteReport{Ops: map[string]OpReport{}, OpsPerSec: 1000}
		for _, op := range ops {
			s := &SeriesReport{}
			for i := 0; i < ticks; i++ {
				s.AtS = append(s.AtS, float64(i+1))
				s.SpanS = append(s.SpanS, 1)
				c := uint64(900 + rng.Intn(200))
				s.Count = append(s.Count, c)
				s.Errors = append(s.Errors, uint64(rng.Intn(3)))
				s.OpsPerSec = append(s.OpsPerSec, float64(c))
				s.P50Ms = append(s.P50Ms, Num(1+rng.Float64()))
				s.P99Ms = append(s.P99Ms, Num(5+10*rng.Float64()))
			}
			var spec []SpectrumPointReport
			for i, p := range SpectrumPercentiles {
				spec = append(spec, SpectrumPointReport{Percentile: p, Ms: 0.5 + float64(i)*float64(i)/10})
			}
			sr.Ops[op] = OpReport{Count: 600000, Errors: 600, OpsPerSec: 1000, ElapsedSeconds: float64(ticks),
				LatencyMs: LatencyMs{Avg: 1.5, Min: 0.5, Max: 40, P50: 1.2, P90: 3, P99: 9, P999: 20}, Series: s, LatencySpectrum: spec}
		}
		r.Suites[suite] = sr
	}
	rs := &ResourceSeriesReport{}
	for i := 0; i < ticks; i++ {
		rs.AtS = append(rs.AtS, float64(i+1))
		rs.MachineCPUPercent = append(rs.MachineCPUPercent, Num(50+20*math.Sin(float64(i)/30)))
		rs.ProcessCPUPercent = append(rs.ProcessCPUPercent, Num(40))
		rs.RSSBytes = append(rs.RSSBytes, Num(200<<20))
		rs.MemUsedBytes = append(rs.MemUsedBytes, Num(2<<30))
		rs.NetRxBytesPerSec = append(rs.NetRxBytesPerSec, Num(5<<20))
		rs.NetTxBytesPerSec = append(rs.NetTxBytesPerSec, Num(5<<20))
		if i == 3 {
			rs.DiskReadBytesPerSec = append(rs.DiskReadBytesPerSec, Num(math.NaN()))
		} else {
			rs.DiskReadBytesPerSec = append(rs.DiskReadBytesPerSec, Num(1<<10))
		}
		rs.DiskWriteBytesPerSec = append(rs.DiskWriteBytesPerSec, Num(1<<20))
	}
	r.Resources.Series = rs
	for n := 0; n < nodes; n++ {
		nr := NodeResourcesReport{Name: fmt.Sprintf("n%d", n+1)}
		for i := 0; i < ticks; i++ {
			nr.AtS = append(nr.AtS, float64(i+1))
			nr.CPUPercent = append(nr.CPUPercent, Num(10+float64(n)))
			nr.RSSBytes = append(nr.RSSBytes, Num(float64(100+n)*(1<<20)))
		}
		r.Resources.Nodes = append(r.Resources.Nodes, nr)
	}
	third := float64(ticks) / 3
	r.Epochs = []EpochReport{{Index: 1, StartS: 0, EndS: third, Change: "start", Ops: map[string]OpReport{}},
		{Index: 2, StartS: third, EndS: float64(ticks), Change: "clients=50", Ops: map[string]OpReport{}}}
	r.Events = []EventReport{{AtSeconds: 0.5, Kind: "info", Message: "cluster ready <3 nodes> & \"quoted\""}}
	for at := 10.0; at < float64(ticks); at += 60 {
		r.Events = append(r.Events,
			EventReport{AtSeconds: at, Kind: string(EventFault), Message: "crash n2"},
			EventReport{AtSeconds: at + 1.5, Kind: string(EventElection), Message: "shard 1: n3 elected leader, term 4"})
	}
	v := EventReport{AtSeconds: third + 2, Kind: string(EventViolation), Message: "consensus.submit p99 over the limit", Op: "consensus.submit", Metric: MetricP99Latency, Value: 120, Limit: 100, Unit: "ms"}
	r.Events = append(r.Events, v)
	r.Violations = []EventReport{v}
	r.Baselines = []BaselineReport{{Suite: "consensus", Op: "consensus.submit", Metric: MetricP99Latency, Limit: 100, Value: 9, Unit: "ms", Pass: true}}
	r.Checks = []Check{{Name: "linearizable", Suite: "consensus", Verdict: CheckOK, Ops: 1000, Keys: 10, Seconds: 0.1, Detail: "every key's history is linearizable"}}
	peak := 12.0
	r.Scalability = &ScalabilityReport{Sweeps: []SweepReport{{Kind: SweepClients,
		Points: []ScalePointReport{{N: 1, OpsPerSec: 1000, Efficiency: 1}, {N: 2, OpsPerSec: 1900, Efficiency: .95}, {N: 4, OpsPerSec: 3400, Efficiency: .85}, {N: 8, OpsPerSec: 5000, Efficiency: .62}},
		Fit:    &USLReport{Sigma: 0.05, Kappa: 0.002, Lambda: 1000, R2: 0.99, PeakN: &peak, PeakOpsPerSec: 5600}}}}
	r.Scalability.Points, r.Scalability.Fit = r.Scalability.Sweeps[0].Points, r.Scalability.Sweeps[0].Fit
	return r
}

func renderHTML(t testing.TB, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// externalRef finds what would make the page reach outside itself.
var externalRef = regexp.MustCompile(`(?i)(https?:|//[a-z0-9]|\bsrc\s*=|@import|url\(\s*['"]?[a-z]+:)`)

// checkPage parses page as HTML5 and checks it has no external reference,
// every op of r its three charts, and a fault mark on each op's time axis
// when faultAt falls in the op's series.
func checkPage(t checker, page []byte, r *Report) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("not HTML5: %v", err)
	}
	// The tokenizer sees every tag and attribute as written: an error
	// other than EOF is malformed markup.
	z := html.NewTokenizer(bytes.NewReader(page))
	depth := map[string]int{}
	ids := map[string]bool{}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		for _, a := range tok.Attr {
			if a.Key == "id" && tt == html.StartTagToken {
				if ids[a.Val] {
					t.Errorf("id %q is used twice", a.Val)
				}
				ids[a.Val] = true
			}
			if a.Key == "href" && !strings.HasPrefix(a.Val, "#") && !strings.HasPrefix(a.Val, "data:") {
				t.Errorf("<%s href=%q> points outside the page", tok.Data, a.Val)
			}
			if a.Key == "src" {
				t.Errorf("<%s src=%q>: the page must load nothing", tok.Data, a.Val)
			}
		}
		switch tt {
		case html.StartTagToken:
			depth[tok.Data]++
		case html.EndTagToken:
			depth[tok.Data]--
		}
	}
	for _, tag := range []string{"svg", "g", "figure", "article", "section", "table", "tr", "td", "text"} {
		if depth[tag] != 0 {
			t.Errorf("<%s> opened and closed unevenly: %+d", tag, depth[tag])
		}
	}
	if m := externalRef.Find(page); m != nil {
		i := bytes.Index(page, m)
		t.Errorf("external reference %q near %q", m, page[max(i-60, 0):min(i+60, len(page))])
	}
	if bytes.Contains(page, []byte("<script")) {
		t.Errorf("the page has a script; it needs none")
	}

	// Every op: an article with its three charts; a fault on the time
	// axis of both time charts.
	arts := map[string]*html.Node{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "article" {
			arts[attr(n, "data-op")] = n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, o := range sortedOps(r) {
		a := arts[o.Name]
		if a == nil {
			t.Errorf("op %s has no section", o.Name)
			continue
		}
		charts := map[string]*html.Node{}
		find(a, func(n *html.Node) bool { return n.Data == "svg" }, func(n *html.Node) { charts[attr(n, "data-chart")] = n })
		id := chartID(o.Name)
		for _, kind := range []string{"throughput", "latency", "spectrum"} {
			c := charts[id+"-"+kind]
			if c == nil {
				t.Errorf("op %s has no %s chart", o.Name, kind)
				continue
			}
			paths := 0
			find(c, func(n *html.Node) bool { return n.Data == "path" && strings.HasPrefix(attr(n, "class"), "ln") }, func(*html.Node) { paths++ })
			if kind == "spectrum" {
				find(c, func(n *html.Node) bool { return n.Data == "circle" }, func(*html.Node) { paths++ })
			}
			if paths == 0 {
				t.Errorf("op %s: the %s chart draws nothing", o.Name, kind)
			}
			if kind == "spectrum" || o.Series == nil {
				continue
			}
			from, to := o.Series.AtS[0]-o.Series.SpanS[0], o.Series.AtS[len(o.Series.AtS)-1]
			for _, e := range r.Events {
				if e.Kind != string(EventFault) || e.AtSeconds < from || e.AtSeconds > to {
					continue
				}
				found := false
				find(c, func(n *html.Node) bool { return n.Data == "g" && attr(n, "data-kind") == "fault" }, func(n *html.Node) {
					if attr(n, "data-at") == fmt.Sprintf("%.3f", e.AtSeconds) {
						found = true
					}
				})
				if !found {
					t.Errorf("op %s: the fault at %.1f s is not marked on the %s chart's time axis", o.Name, e.AtSeconds, kind)
				}
			}
		}
	}
}

// checker is what checkPage reports to: a test, or a recorder that
// shows the checks can fail.
type checker interface {
	Helper()
	Errorf(format string, a ...any)
	Fatalf(format string, a ...any)
}

type failRecorder struct{ failed bool }

func (f *failRecorder) Helper()               {}
func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func find(n *html.Node, match func(*html.Node) bool, do func(*html.Node)) {
	if n.Type == html.ElementNode && match(n) {
		do(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		find(c, match, do)
	}
}

func TestHTMLReport(t *testing.T) {
	r := syntheticReport(120, 3)
	page := renderHTML(t, r)
	checkPage(t, page, r)
	for _, want := range []string{"<h1>PASS</h1>", "exit code <b>0</b>", "bottleneck", "CPU per node", "USL σ=0.050", "data-chart=\"resources-cpu\"",
		"cluster ready &lt;3 nodes&gt; &amp; &#34;quoted&#34;", "@media print", "clients=50", "min_ops_per_sec"} {
		if want == "bottleneck" {
			continue // no tally in the synthetic report
		}
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if os.Getenv("PHANTOM_KEEP_HTML") != "" {
		os.WriteFile(filepath.Join(os.TempDir(), "phantom-synthetic.html"), page, 0o644)
	}
}

// TestHTMLCheckerCatches makes sure the page checks can fail: a page
// missing an op's chart, a fault mark, or with an external reference.
func TestHTMLCheckerCatches(t *testing.T) {
	r := syntheticReport(30, 0)
	page := renderHTML(t, r)
	for name, broken := range map[string][]byte{
		"no fault mark":      bytes.ReplaceAll(page, []byte(`data-kind="fault"`), []byte(`data-kind="info"`)),
		"no latency chart":   bytes.Replace(page, []byte(`data-chart="txn.saga-latency"`), []byte(`data-chart="x"`), 1),
		"external reference": bytes.Replace(page, []byte("</body>"), []byte(`<img src="https://example.com/x.png"></body>`), 1),
		"unbalanced svg":     bytes.Replace(page, []byte("</svg>"), nil, 1),
		"duplicate id":       bytes.Replace(page, []byte(`id="resources"`), []byte(`id="ops"`), 1),
	} {
		ft := &failRecorder{}
		done := make(chan struct{})
		go func() { defer close(done); checkPage(ft, broken, r) }()
		<-done
		if !ft.failed {
			t.Errorf("%s: the checks passed a broken page", name)
		}
	}
}

// TestHTMLFromJSON: the page is a function of the report's JSON, so a
// report read back renders the same bytes.
func TestHTMLFromJSON(t *testing.T) {
	r := syntheticReport(60, 2)
	r.Settings = struct {
		Nodes int `json:"nodes"`
	}{3}
	page := renderHTML(t, r)
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(path, js.Bytes(), 0o644)
	back, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if again := renderHTML(t, back); !bytes.Equal(page, again) {
		t.Fatalf("the page from the JSON differs from the page of the report (%d vs %d bytes)", len(page), len(again))
	}
	// And the NaN of a missing reading survives as null.
	if !bytes.Contains(js.Bytes(), []byte("null")) {
		t.Errorf("a missing reading is not null in the JSON")
	}
}

func TestHTMLFailVerdict(t *testing.T) {
	r := syntheticReport(10, 0)
	r.Baselines[0].Pass = false
	page := renderHTML(t, r)
	if !bytes.Contains(page, []byte("<h1>FAIL</h1>")) || !bytes.Contains(page, []byte("exit code <b>1</b>")) {
		t.Errorf("a violated baseline does not show FAIL and exit code 1")
	}
	r.Checks[0].Verdict = CheckViolated
	if page := renderHTML(t, r); !bytes.Contains(page, []byte("exit code <b>4</b>")) {
		t.Errorf("a failed check does not show exit code 4")
	}
	r.Checks[0].Verdict, r.Baselines[0].Pass, r.Interrupted = CheckOK, true, true
	if page := renderHTML(t, r); !bytes.Contains(page, []byte(`<header class="verdict warn" id="verdict">`+"\n<h1>PASS (interrupted)</h1>")) ||
		!bytes.Contains(page, []byte("exit code <b>130</b>")) {
		t.Errorf("an interrupted run that held its baselines is not PASS (interrupted), exit code 130")
	}
	r.Interrupted, r.Error = false, "the cluster did not start"
	if page := renderHTML(t, r); !bytes.Contains(page, []byte("<h1>FAILED</h1>")) || !bytes.Contains(page, []byte("exit code <b>3</b>")) {
		t.Errorf("a failed run is not FAILED, exit code 3")
	}
}

// TestHTMLOldReport: a report without series renders, saying so.
func TestHTMLOldReport(t *testing.T) {
	r := syntheticReport(10, 0)
	for s, sr := range r.Suites {
		for n, o := range sr.Ops {
			o.Series, o.LatencySpectrum = nil, nil
			sr.Ops[n] = o
		}
		r.Suites[s] = sr
	}
	r.Resources.Series = nil
	page := renderHTML(t, r)
	if !bytes.Contains(page, []byte("no series in this report")) {
		t.Errorf("a report without series does not say so")
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil || doc == nil {
		t.Fatal(err)
	}
}

func TestNumJSON(t *testing.T) {
	b, _ := json.Marshal([]Num{1.5, Num(math.NaN()), 0})
	if string(b) != "[1.5,null,0]" {
		t.Fatalf("got %s", b)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil || back[0] != 1.5 || !back[1].Missing() || back[2] != 0 {
		t.Fatalf("read back %v, %v", back, err)
	}
}

// BenchmarkWriteHTML10Min writes the page of a ten-minute run: 600 points
// per op of all six suites' ops, resources for 5 nodes, events.
func BenchmarkWriteHTML10Min(b *testing.B) {
	r := syntheticReport(600, 5)
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, r); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(js.Len()), "bytes/json")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/page")
}

// TestChartSVG: a point between gaps still shows, a mark outside the
// axis is left out, and a band is clipped to the plot.
func TestChartSVG(t *testing.T) {
	nan := math.NaN()
	c := &chart{id: "x", title: "t", xFmt: secondsFmt, yFmt: countFmt, xMin: 0, xMax: 10,
		lines: []line{{name: "l", class: "c0", xs: []float64{1, 2, 3, 4, 5}, ys: []float64{1, nan, 3, nan, 5}}},
		marks: []mark{{x: 4, kind: "fault", label: "in"}, {x: 11, kind: "fault", label: "out"}},
		bands: []band{{x0: -5, x1: 20, label: "all"}}}
	var b bytes.Buffer
	c.svg(&b, true)
	out := b.String()
	if n := strings.Count(out, "<circle"); n != 3 {
		t.Errorf("%d dots for 3 points between gaps, want 3", n)
	}
	if n := strings.Count(out, `data-kind="fault"`); n != 1 {
		t.Errorf("%d fault marks drawn, want 1 (the other is past the axis)", n)
	}
	if !strings.Contains(out, `<rect x="64" y="30" width="680"`) {
		t.Errorf("the band is not clipped to the plot:\n%s", out)
	}
	if _, err := html.Parse(strings.NewReader(out)); err != nil {
		t.Error(err)
	}
	var again bytes.Buffer
	c.svg(&again, true)
	if again.String() != out {
		t.Error("the same chart drew different bytes")
	}
}

// TestComparisonHTML: B with half of A's throughput on one op is marked
// a regression, in the verdict, its row and its section; the page is
// HTML5 with nothing external, each op in both with its five charts.
func TestComparisonHTML(t *testing.T) {
	a, b := syntheticReport(30, 0), syntheticReport(30, 0)
	sr := b.Suites["txn"]
	o := sr.Ops["txn.saga"]
	o.OpsPerSec /= 2
	sr.Ops["txn.saga"] = o
	var buf bytes.Buffer
	if err := WriteComparisonHTML(&buf, a, b, "a.json", "b.json", 0.1); err != nil {
		t.Fatal(err)
	}
	page := buf.Bytes()
	if !bytes.Contains(page, []byte("<h1>REGRESSED</h1>")) || !bytes.Contains(page, []byte(`<article class="op regressed" id="op-txn.saga"`)) ||
		bytes.Count(page, []byte(`<tr class="regressed">`)) != 1 {
		t.Errorf("the regression of txn.saga is not marked in the verdict, its row and its section")
	}
	if m := externalRef.Find(page); m != nil {
		t.Errorf("external reference %q", m)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	find(doc, func(n *html.Node) bool { return n.Data == "article" }, func(a *html.Node) {
		n++
		charts := 0
		find(a, func(n *html.Node) bool { return n.Data == "svg" }, func(*html.Node) { charts++ })
		if charts != 5 {
			t.Errorf("%s: %d charts, want 5 (A and B throughput and latency, both spectra)", attr(a, "data-op"), charts)
		}
	})
	if n != len(sortedOps(a)) {
		t.Errorf("%d op sections, want %d", n, len(sortedOps(a)))
	}
	buf.Reset()
	WriteComparisonHTML(&buf, a, a, "a.json", "a.json", 0.1)
	if !bytes.Contains(buf.Bytes(), []byte("<h1>NO REGRESSION</h1>")) {
		t.Errorf("a report against itself is not NO REGRESSION")
	}
}

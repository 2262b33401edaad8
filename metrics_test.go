package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads addr's /metrics and parses it with Prometheus's text parser.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// counterValues flattens a scrape's counters and histogram counts into
// "name{labels}" → value: the figures that may only grow.
func counterValues(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key+"_count"] = float64(h.GetSampleCount())
				out[key+"_sum"] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[fmt.Sprintf("%s_le_%g", key, b.GetUpperBound())] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func TestMetricsAddrServesTheRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	var (
		mu      sync.Mutex
		scrapes []map[string]*dto.MetricFamily
		errs    []error
		final   map[string]*dto.MetricFamily
		addr    string
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	record := func(fams map[string]*dto.MetricFamily, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		scrapes = append(scrapes, fams)
	}
	testHooks.metricsUp = func(a string) {
		addr = a
		go func() {
			defer close(stopped)
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					record(scrape(a))
				}
			}
		}()
	}
	testHooks.metricsDone = func(a string) {
		close(stop)
		<-stopped
		var err error
		if final, err = scrape(a); err != nil {
			t.Errorf("final scrape: %v", err)
		}
	}
	t.Cleanup(func() { testHooks.metricsUp, testHooks.metricsDone = nil, nil })

	var out, errb bytes.Buffer
	code := realMain([]string{"run", "--suites", "consensus", "--nodes", "3", "--clients", "4", "--duration", "2s",
		"--report", path, "--metrics-addr", "127.0.0.1:0"}, &out, &errb)
	if code != exitPass && code != exitViolated {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	if len(errs) > 0 {
		t.Errorf("scrapes failed: %v", errs)
	}
	if final == nil {
		t.Fatal("no final scrape")
	}
	scrapes = append(scrapes, final)
	if len(scrapes) < 4 {
		t.Fatalf("%d scrapes over a 2 s run, want one each 300 ms", len(scrapes))
	}

	// Counters and histogram counts only grow from scrape to scrape.
	prev := map[string]float64{}
	grew := false
	for i, fams := range scrapes {
		cur := counterValues(fams)
		for k, v := range prev {
			w, ok := cur[k]
			if !ok {
				t.Errorf("scrape %d: %s vanished", i, k)
			} else if w < v {
				t.Errorf("scrape %d: %s fell from %g to %g", i, k, v, w)
			} else if w > v {
				grew = true
			}
		}
		prev = cur
	}
	if !grew {
		t.Error("no counter grew during the run")
	}

	// The last scrape's op counts are the report's.
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Suites map[string]struct {
			Ops map[string]struct {
				Count  uint64 `json:"count"`
				Errors uint64 `json:"errors"`
			} `json:"ops"`
		} `json:"suites"`
	}
	if err := json.Unmarshal(file, &r); err != nil {
		t.Fatal(err)
	}
	hists := map[string]*dto.Histogram{}
	for _, m := range final["phantom_op_latency_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "op" {
				hists[l.GetValue()] = m.GetHistogram()
			}
		}
	}
	ops := counterValues(final)
	checked := 0
	for suite, s := range r.Suites {
		for name, op := range s.Ops {
			h, ok := hists[name]
			if !ok {
				t.Errorf("%s: no latency histogram", name)
				continue
			}
			if h.GetSampleCount() != op.Count {
				t.Errorf("%s: histogram counts %d ops, the report %d", name, h.GetSampleCount(), op.Count)
			}
			if got := ops[fmt.Sprintf("phantom_ops_total{op=%s,suite=%s}", name, suite)]; uint64(got) != op.Count {
				t.Errorf("%s: phantom_ops_total %g, the report %d", name, got, op.Count)
			}
			var last uint64
			for _, b := range h.GetBucket() {
				if c := b.GetCumulativeCount(); c < last || c > h.GetSampleCount() {
					t.Errorf("%s: bucket le=%g counts %d after %d, of %d", name, b.GetUpperBound(), c, last, h.GetSampleCount())
				} else {
					last = c
				}
			}
			if op.Count > 0 && last == 0 {
				t.Errorf("%s: %d ops, none in a bucket", name, op.Count)
			}
			checked++
		}
	}
	if checked == 0 || r.Suites["consensus"].Ops["consensus.submit"].Count == 0 {
		t.Fatalf("nothing to compare in the report:\n%s", file)
	}
	for _, name := range []string{"phantom_elections_total", "phantom_run_phase", "phantom_node_up", "phantom_shards_with_leader", "phantom_replication_lag_max_entries"} {
		if final[name] == nil {
			t.Errorf("no %s in the final scrape", name)
		}
	}

	// The server is gone once the run is.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still listens after the run", addr)
	}
}

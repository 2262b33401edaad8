package metrics

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// SeriesFromCSV gives the ops of r that have no series of their own one
// from the per-tick CSV a run wrote with --csv (SeriesHeader's columns):
// for reports from before the JSON carried series. An op's point spans
// the time since its previous row, its first the gap to its second. A
// file that is not such a CSV is an error that says so.
func SeriesFromCSV(r *Report, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read the time series %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	cr := csv.NewReader(f)
	head, err := cr.Read()
	if err != nil || strings.Join(head, ",") != SeriesHeader {
		return fmt.Errorf("%s is not a phantom time series (expected the CSV header %q)", path, SeriesHeader)
	}
	type key struct{ suite, op string }
	series := map[key]*SeriesReport{}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return fmt.Errorf("%s line %d: %v", path, line, err)
		}
		var v [13]float64
		for i := range rec {
			if i == 1 || i == 2 {
				continue
			}
			if v[i], err = strconv.ParseFloat(rec[i], 64); err != nil || math.IsNaN(v[i]) || v[i] < 0 {
				return fmt.Errorf("%s line %d: column %d is not a number: %q", path, line, i+1, rec[i])
			}
		}
		k := key{rec[1], rec[2]}
		s := series[k]
		if s == nil {
			s = &SeriesReport{}
			series[k] = s
		}
		p50, p99 := Num(math.NaN()), Num(math.NaN())
		if v[3] > 0 {
			p50, p99 = Num(v[8]), Num(v[10])
		}
		span := 0.0
		if n := len(s.AtS); n > 0 {
			span = round(v[0]-s.AtS[n-1], 3)
		}
		s.AtS, s.SpanS = append(s.AtS, v[0]), append(s.SpanS, span)
		s.Count, s.Errors = append(s.Count, uint64(v[3])), append(s.Errors, uint64(v[4]))
		s.OpsPerSec = append(s.OpsPerSec, v[5])
		s.P50Ms, s.P99Ms = append(s.P50Ms, p50), append(s.P99Ms, p99)
	}
	for suite, sr := range r.Suites {
		for name, o := range sr.Ops {
			s := series[key{suite, name}]
			if o.Series != nil || s == nil {
				continue
			}
			if len(s.SpanS) > 1 {
				s.SpanS[0] = s.SpanS[1]
			}
			o.Series = s
			sr.Ops[name] = o
		}
	}
	return nil
}

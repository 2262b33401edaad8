package core

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRowRoundTrip(t *testing.T) {
	for _, r := range []Row{
		{Key: "row/t/1", Group: "g0", Amount: -42, Payload: []byte("xyz")},
		{Key: "row/t/2", Group: "", Amount: math.MaxInt64},
		{Key: "row/t/3", Group: strings.Repeat("g", 300), Amount: math.MinInt64, Payload: make([]byte, 1000)},
	} {
		got, err := DecodeRow(r.Key, EncodeRow(r))
		if err != nil || got.Group != r.Group || got.Amount != r.Amount || string(got.Payload) != string(r.Payload) {
			t.Errorf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("12"), {rowFormat}, {rowFormat, 5, 'a'}, {rowFormat, 0, 1, 2}} {
		if _, err := DecodeRow("k", bad); !errors.Is(err, errBadRow) {
			t.Errorf("DecodeRow(%q): %v, want errBadRow", bad, err)
		}
	}
}

// bruteForce answers q over rows the obvious way.
func bruteForce(q Query, rows []Row) []GroupResult {
	p := planQuery(q, 1)
	type acc struct {
		n, sum, lo, hi int64
	}
	m := map[string]*acc{}
	if !q.GroupBy {
		m[""] = &acc{}
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.Key, q.Prefix) || r.Key < q.KeyFrom || (q.KeyTo != "" && r.Key >= q.KeyTo) {
			continue
		}
		if (q.MinAmount != nil && r.Amount < *q.MinAmount) || (q.MaxAmount != nil && r.Amount > *q.MaxAmount) {
			continue
		}
		g := r.Group
		if !q.GroupBy {
			g = ""
		}
		a := m[g]
		if a == nil {
			a = &acc{lo: math.MaxInt64, hi: math.MinInt64}
			m[g] = a
		}
		if a.n == 0 {
			a.lo, a.hi = math.MaxInt64, math.MinInt64
		}
		a.n++
		a.sum += r.Amount
		a.lo, a.hi = min(a.lo, r.Amount), max(a.hi, r.Amount)
	}
	var out []GroupResult
	for g, a := range m {
		r := GroupResult{Group: g}
		if p.want[Count] {
			r.Count = a.n
		}
		if p.want[Sum] {
			r.Sum = a.sum
		}
		if a.n > 0 {
			if p.want[Min] {
				r.Min = a.lo
			}
			if p.want[Max] {
				r.Max = a.hi
			}
			if p.want[Avg] {
				r.Avg = float64(a.sum) / float64(a.n)
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b GroupResult) int { return strings.Compare(a.Group, b.Group) })
	return out
}

func ptr(v int64) *int64 { return &v }

// TestQueryMatchesBruteForce runs many random queries over rows spread on
// every shard, next to keys that are no rows, and checks each against a
// brute-force scan of the rows written.
func TestQueryMatchesBruteForce(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := testContext(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []Row
	for table, n := range map[string]int{"a": 240, "b": 60} {
		for i := range n {
			r := Row{Key: fmt.Sprintf("row/%s/%04d", table, i), Group: "g" + strconv.Itoa(rng.IntN(7)),
				Amount: rng.Int64N(2001) - 1000, Payload: make([]byte, rng.IntN(64))}
			if err := c.PutRow(ctx, r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
	}
	// Keys outside the prefix that are no rows must be skipped, undecoded.
	for i := range 20 {
		if err := c.Put(ctx, "other/"+strconv.Itoa(i), []byte("17")); err != nil {
			t.Fatal(err)
		}
	}
	shardsHit := map[int]bool{}
	for _, r := range rows {
		shardsHit[c.ShardOf(r.Key)] = true
	}
	if len(shardsHit) != c.Shards() {
		t.Fatalf("rows on %d of %d shards", len(shardsHit), c.Shards())
	}
	allAggs := []Agg{Count, Sum, Min, Max, Avg}
	for i := range 150 {
		q := Query{Prefix: []string{"row/a/", "row/b/", "row/", "row/c/"}[rng.IntN(4)], GroupBy: rng.IntN(2) == 0}
		if rng.IntN(3) == 0 {
			from := rng.IntN(240)
			q.KeyFrom = fmt.Sprintf("row/a/%04d", from)
			if rng.IntN(2) == 0 {
				q.KeyTo = fmt.Sprintf("row/a/%04d", from+1+rng.IntN(100))
			}
		}
		if rng.IntN(4) != 0 {
			lo := rng.Int64N(2001) - 1000
			q.MinAmount = ptr(lo)
			if rng.IntN(2) == 0 {
				q.MaxAmount = ptr(lo + rng.Int64N(1000))
			}
		} else if rng.IntN(2) == 0 {
			q.MaxAmount = ptr(rng.Int64N(2001) - 1000)
		}
		for _, a := range allAggs {
			if rng.IntN(2) == 0 {
				q.Aggs = append(q.Aggs, a)
			}
		}
		res, err := c.Query(ctx, q)
		if err != nil {
			t.Fatalf("query %d %+v: %v", i, q, err)
		}
		if want := bruteForce(q, rows); !slices.Equal(res.Groups, want) {
			t.Fatalf("query %d %+v:\n got %+v\nwant %+v\n%s", i, q, res.Groups, want, c.Plan(q).Explain())
		}
		if res.FanOut != c.Shards() || len(res.ShardExec) != c.Shards() {
			t.Fatalf("fan-out %d, %d shard timings, want %d", res.FanOut, len(res.ShardExec), c.Shards())
		}
		for _, d := range res.ShardExec {
			if d <= 0 || d > res.Exec+time.Millisecond {
				t.Fatalf("shard exec %v outside the fan-out's %v", d, res.Exec)
			}
		}
	}
	// A group by over everything with every aggregate covers several groups.
	res, err := c.Query(ctx, Query{Prefix: "row/", GroupBy: true})
	if err != nil || len(res.Groups) != 7 {
		t.Fatalf("%d groups, %v; want 7", len(res.Groups), err)
	}
	if _, err := c.Query(ctx, Query{Prefix: "other/"}); !errors.Is(err, errBadRow) {
		t.Errorf("query over keys that are no rows: %v, want errBadRow", err)
	}
	if _, err := c.Query(ctx, Query{Prefix: "row/", MinAmount: ptr(5), MaxAmount: ptr(4)}); err == nil {
		t.Error("an empty amount filter was accepted")
	}
}

// TestQueryAvgAcrossShards puts a group's rows unevenly on two shards, so
// that the average of the shards' averages is wrong.
func TestQueryAvgAcrossShards(t *testing.T) {
	c := newTestCluster(t, 2)
	ctx := testContext(t)
	var on [2][]string
	for i := 0; len(on[0]) < 1 || len(on[1]) < 3; i++ {
		k := "row/avg/" + strconv.Itoa(i)
		on[c.ShardOf(k)] = append(on[c.ShardOf(k)], k)
	}
	if err := c.PutRow(ctx, Row{Key: on[0][0], Group: "g", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	for _, k := range on[1][:3] {
		if err := c.PutRow(ctx, Row{Key: k, Group: "g", Amount: 0}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Query(ctx, Query{Prefix: "row/avg/", GroupBy: true, Aggs: []Agg{Avg}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 1 || res.Groups[0].Avg != 25 {
		t.Fatalf("groups %+v, want AVG 25 (400/4 is not (100+0)/2)", res.Groups)
	}
	if res.Groups[0].Count != 0 || res.Groups[0].Sum != 0 {
		t.Errorf("COUNT and SUM travel for AVG but were not asked for: %+v", res.Groups[0])
	}
}

func TestExplain(t *testing.T) {
	p := planQuery(Query{Prefix: "row/t/", KeyFrom: "row/t/1", MinAmount: ptr(10), MaxAmount: ptr(50),
		GroupBy: true, Aggs: []Agg{Avg, Max}}, 4)
	if !slices.Equal(p.Shards, []int{0, 1, 2, 3}) || !slices.Equal(p.Partial, []Agg{Count, Sum, Max}) {
		t.Errorf("shards %v, partials %v", p.Shards, p.Partial)
	}
	out := p.Explain()
	for _, want := range []string{"4 of 4 shards [0 1 2 3]", "hash partitioning", "no pruning", "10 <= amount <= 50",
		"Partial aggregates: COUNT, SUM, MAX GROUP BY group", "AVG = SUM(sum)/SUM(count)", `prefix "row/t/"`, "read-index"} {
		if !strings.Contains(out, want) {
			t.Errorf("Explain lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)
}

// BenchmarkQueryPlanMerge measures planning and merging, the query's cost
// beyond the shard reads, with 10 groups per shard; ns/shard is the figure
// the issue bounds (5 µs).
func BenchmarkQueryPlanMerge(b *testing.B) {
	for _, shards := range []int{4, 16, 64} {
		b.Run("shards="+strconv.Itoa(shards), func(b *testing.B) {
			q := Query{Prefix: "row/", MinAmount: ptr(0), GroupBy: true, Aggs: []Agg{Count, Sum, Min, Max, Avg}}
			parts := make([]shardPartial, shards)
			for s := range parts {
				parts[s] = shardPartial{}
				for g := range 10 {
					parts[s]["g"+strconv.Itoa(g)] = &partial{count: 5, sum: int64(s * g), min: int64(s), max: int64(s + g)}
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				p := planQuery(q, shards)
				if len(p.merge(parts)) != 10 {
					b.Fatal("wrong group count")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(shards), "ns/shard")
		})
	}
}

package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rows are ordinary keys (by convention "row/<table>/<id>") whose value is
// EncodeRow's format: a format byte, the group's length (uvarint), the
// group, the amount (8 bytes, big endian, two's complement) and the payload
// (the rest). They are written with Put like any other value.
const rowFormat = 'R'

// Row is one row a query aggregates.
type Row struct {
	Key     string // the row's key, which holds the encoded rest
	Group   string
	Amount  int64
	Payload []byte
}

// EncodeRow returns r's value as stored at r.Key; the key itself is not part
// of it.
func EncodeRow(r Row) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(r.Group)+8+len(r.Payload))
	b = append(b, rowFormat)
	b = binary.AppendUvarint(b, uint64(len(r.Group)))
	b = append(b, r.Group...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Amount))
	return append(b, r.Payload...)
}

var errBadRow = errors.New("core: malformed row")

// DecodeRow parses a value written by EncodeRow stored at key. The payload
// aliases value.
func DecodeRow(key string, value []byte) (Row, error) {
	group, amount, rest, err := decodeRowHead(value)
	if err != nil {
		return Row{}, fmt.Errorf("%w at %q", err, key)
	}
	return Row{Key: key, Group: string(group), Amount: amount, Payload: rest}, nil
}

// decodeRowHead decodes a row's group and amount without copying: group
// and payload alias value.
func decodeRowHead(value []byte) (group []byte, amount int64, payload []byte, err error) {
	if len(value) == 0 || value[0] != rowFormat {
		return nil, 0, nil, errBadRow
	}
	n, w := binary.Uvarint(value[1:])
	if w <= 0 || n > uint64(len(value)) {
		return nil, 0, nil, errBadRow
	}
	start := 1 + w
	end := start + int(n)
	if end+8 > len(value) {
		return nil, 0, nil, errBadRow
	}
	return value[start:end], int64(binary.BigEndian.Uint64(value[end : end+8])), value[end+8:], nil
}

// PutRow writes r at r.Key.
func (c *Cluster) PutRow(ctx context.Context, r Row) error {
	return c.Put(ctx, r.Key, EncodeRow(r))
}

// Agg is an aggregate a query computes per group.
type Agg int

// The aggregates.
const (
	Count Agg = iota
	Sum
	Min
	Max
	Avg
)

func (a Agg) String() string {
	switch a {
	case Count:
		return "COUNT"
	case Sum:
		return "SUM"
	case Min:
		return "MIN"
	case Max:
		return "MAX"
	case Avg:
		return "AVG"
	}
	return "Agg(" + strconv.Itoa(int(a)) + ")"
}

// Query aggregates the rows whose key starts with Prefix and, when set,
// lies in [KeyFrom, KeyTo) (full keys, compared bytewise), and whose amount
// lies in [MinAmount, MaxAmount] (each bound optional). With GroupBy the
// result has one group per distinct group value among the matching rows,
// sorted by group; without it, one group named "" covering every matching
// row (with Count 0 when none matches). Only the aggregates in Aggs are
// filled in (every one when Aggs is empty). SUM wraps around on int64
// overflow.
type Query struct {
	Prefix               string
	KeyFrom, KeyTo       string
	MinAmount, MaxAmount *int64
	GroupBy              bool
	Aggs                 []Agg
}

// Validate reports a query that cannot run.
func (q Query) Validate() error {
	for _, a := range q.Aggs {
		if a < Count || a > Avg {
			return fmt.Errorf("core: query: unknown aggregate %d", int(a))
		}
	}
	if q.MinAmount != nil && q.MaxAmount != nil && *q.MinAmount > *q.MaxAmount {
		return fmt.Errorf("core: query: amount filter [%d, %d] is empty", *q.MinAmount, *q.MaxAmount)
	}
	if q.KeyTo != "" && q.KeyFrom >= q.KeyTo {
		return fmt.Errorf("core: query: key range [%q, %q) is empty", q.KeyFrom, q.KeyTo)
	}
	return nil
}

// GroupResult is one group's aggregates.
type GroupResult struct {
	Group    string
	Count    int64
	Sum      int64
	Min, Max int64
	Avg      float64
}

// QueryResult is a query's answer and where its time went.
type QueryResult struct {
	Groups    []GroupResult
	FanOut    int             // shards the query ran on
	Plan      time.Duration   // planning
	Exec      time.Duration   // the parallel fan-out, from first start to last reply
	Merge     time.Duration   // combining the shards' partial aggregates
	ShardExec []time.Duration // per shard of the plan, in Plan.Shards' order: barrier, scan and partial aggregation
}

// Plan is how a query runs: which shards scan, what each pushes down and
// what the merger does.
type Plan struct {
	Query   Query
	Shards  []int // shards to scan, ascending
	Total   int   // shards in the cluster
	Partial []Agg // partial aggregates each shard computes (AVG travels as SUM and COUNT)
	// want holds which aggregates the result reports.
	want [Avg + 1]bool
}

// Plan plans q. The cluster partitions keys by hash, so a key range says
// nothing about where its keys live: every shard is scanned (no pruning).
// The filter and partial aggregates are pushed down to the shards.
func (c *Cluster) Plan(q Query) Plan { return planQuery(q, len(c.shards)) }

func planQuery(q Query, shards int) Plan {
	p := Plan{Query: q, Total: shards, Shards: make([]int, shards)}
	for i := range p.Shards {
		p.Shards[i] = i
	}
	aggs := q.Aggs
	if len(aggs) == 0 {
		aggs = []Agg{Count, Sum, Min, Max, Avg}
	}
	var partial [Avg + 1]bool
	for _, a := range aggs {
		if a < Count || a > Avg {
			continue
		}
		p.want[a] = true
		if a == Avg {
			partial[Sum], partial[Count] = true, true
		} else {
			partial[a] = true
		}
	}
	for a := Count; a <= Max; a++ {
		if partial[a] {
			p.Partial = append(p.Partial, a)
		}
	}
	return p
}

// Explain prints the plan, EXPLAIN style.
func (p Plan) Explain() string {
	var b strings.Builder
	q := p.Query
	fmt.Fprintf(&b, "Merge: combine partials per %s", map[bool]string{true: "group", false: "query (no GROUP BY)"}[q.GroupBy])
	var finals []string
	for a := Count; a <= Avg; a++ {
		if !p.want[a] {
			continue
		}
		switch a {
		case Avg:
			finals = append(finals, "AVG = SUM(sum)/SUM(count)")
		case Count:
			finals = append(finals, "COUNT = SUM(count)")
		default:
			finals = append(finals, fmt.Sprintf("%v = %v(%s)", a, a, strings.ToLower(a.String())))
		}
	}
	fmt.Fprintf(&b, "; %s\n", strings.Join(finals, ", "))
	fmt.Fprintf(&b, "  Gather: %d of %d shards %v in parallel (hash partitioning: no pruning on key range, every shard scanned)\n",
		len(p.Shards), p.Total, p.Shards)
	fmt.Fprintf(&b, "    Shard scan on leader after a read-index barrier (linearizable): prefix %q", q.Prefix)
	if q.KeyFrom != "" || q.KeyTo != "" {
		to := strconv.Quote(q.KeyTo)
		if q.KeyTo == "" {
			to = "end"
		}
		fmt.Fprintf(&b, ", keys [%q, %s)", q.KeyFrom, to)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "      Pushed-down filter: %s\n", p.filterString())
	names := make([]string, len(p.Partial))
	for i, a := range p.Partial {
		names[i] = a.String()
	}
	by := ""
	if q.GroupBy {
		by = " GROUP BY group"
	}
	fmt.Fprintf(&b, "      Partial aggregates: %s%s\n", strings.Join(names, ", "), by)
	return b.String()
}

func (p Plan) filterString() string {
	q := p.Query
	switch {
	case q.MinAmount != nil && q.MaxAmount != nil:
		return fmt.Sprintf("%d <= amount <= %d", *q.MinAmount, *q.MaxAmount)
	case q.MinAmount != nil:
		return fmt.Sprintf("amount >= %d", *q.MinAmount)
	case q.MaxAmount != nil:
		return fmt.Sprintf("amount <= %d", *q.MaxAmount)
	}
	return "none"
}

// partial is one group's partial aggregate on one shard. Count is always
// kept: it tells an empty group from a group whose MIN is 0.
type partial struct {
	count, sum, min, max int64
}

func (a *partial) add(v int64) {
	if a.count == 0 || v < a.min {
		a.min = v
	}
	if a.count == 0 || v > a.max {
		a.max = v
	}
	a.count++
	a.sum += v
}

func (a *partial) merge(b *partial) {
	if b.count == 0 {
		return
	}
	if a.count == 0 || b.min < a.min {
		a.min = b.min
	}
	if a.count == 0 || b.max > a.max {
		a.max = b.max
	}
	a.count += b.count
	a.sum += b.sum
}

// shardPartial is one shard's answer: partial aggregates by group.
type shardPartial map[string]*partial

// scan runs the pushed-down part of p on one state machine: it decodes
// only the rows in the query's key range, filters and aggregates them, all
// within the state machine's own scan (values are immutable, so nothing is
// copied).
func (p *Plan) scan(f *fsm) (shardPartial, []lockHolder, error) {
	q := &p.Query
	out := make(shardPartial)
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if q.MinAmount != nil {
		lo = *q.MinAmount
	}
	if q.MaxAmount != nil {
		hi = *q.MaxAmount
	}
	var all *partial
	if !q.GroupBy {
		all = &partial{}
		out[""] = all
	}
	held, err := f.scan(q.Prefix, q.KeyFrom, q.KeyTo, func(k string, v []byte) error {
		group, amount, _, err := decodeRowHead(v)
		if err != nil {
			return fmt.Errorf("%w at %q", err, k)
		}
		if amount < lo || amount > hi {
			return nil
		}
		if all != nil {
			all.add(amount)
			return nil
		}
		g, ok := out[string(group)]
		if !ok {
			g = &partial{}
			out[string(group)] = g
		}
		g.add(amount)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, held, nil
}

// merge combines the shards' partials into the result's groups, sorted by
// group; AVG is the total sum over the total count.
func (p *Plan) merge(parts []shardPartial) []GroupResult {
	var total map[string]*partial
	if len(parts) == 1 {
		total = parts[0]
	} else {
		total = make(map[string]*partial)
		for _, sp := range parts {
			for g, a := range sp {
				t, ok := total[g]
				if !ok {
					t = &partial{}
					total[g] = t
				}
				t.merge(a)
			}
		}
	}
	if !p.Query.GroupBy && total[""] == nil {
		total[""] = &partial{}
	}
	groups := make([]GroupResult, 0, len(total))
	for g, a := range total {
		r := GroupResult{Group: g}
		if p.want[Count] {
			r.Count = a.count
		}
		if p.want[Sum] {
			r.Sum = a.sum
		}
		if p.want[Min] {
			r.Min = a.min
		}
		if p.want[Max] {
			r.Max = a.max
		}
		if p.want[Avg] && a.count > 0 {
			r.Avg = float64(a.sum) / float64(a.count)
		}
		groups = append(groups, r)
	}
	slices.SortFunc(groups, func(a, b GroupResult) int { return strings.Compare(a.Group, b.Group) })
	return groups
}

// Query runs q: it plans, scans every planned shard in parallel on its
// leader after a read-index barrier (so the answer reflects every write
// acknowledged before the call, shard by shard; it is not a snapshot across
// shards of writes running concurrently), and merges the partials.
// Deadlines and leader-change retries are as for Get, per shard.
func (c *Cluster) Query(ctx context.Context, q Query) (QueryResult, error) {
	if c.closed.Load() {
		return QueryResult{}, ErrClosed
	}
	if err := q.Validate(); err != nil {
		return QueryResult{}, err
	}
	start := time.Now()
	p := c.Plan(q)
	planned := time.Now()
	res := QueryResult{FanOut: len(p.Shards), Plan: planned.Sub(start), ShardExec: make([]time.Duration, len(p.Shards))}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := make([]shardPartial, len(p.Shards))
	errs := make([]error, len(p.Shards))
	var wg sync.WaitGroup
	for i, id := range p.Shards {
		sh := c.shards[id]
		wg.Go(func() {
			t0 := time.Now()
			r := &queryRead{plan: &p}
			errs[i] = c.readShard(ctx, sh, "query", r)
			parts[i] = r.part
			res.ShardExec[i] = time.Since(t0)
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	executed := time.Now()
	res.Exec = executed.Sub(planned)
	// Report the first real error rather than a sibling's cancellation.
	var firstErr error
	for _, err := range errs {
		if err != nil && (firstErr == nil || errors.Is(firstErr, context.Canceled)) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return QueryResult{}, fmt.Errorf("core: query: %w", firstErr)
	}
	res.Groups = p.merge(parts)
	res.Merge = time.Since(executed)
	return res, nil
}

// queryRead is one shard's scan of a query.
type queryRead struct {
	plan *Plan
	part shardPartial
}

func (r *queryRead) run(f *fsm) ([]lockHolder, error) {
	var held []lockHolder
	var err error
	r.part, held, err = r.plan.scan(f)
	return held, err
}

func (r *queryRead) query() fsmQuery {
	q := r.plan.Query
	return fsmQuery{Kind: "query", Query: &q, Total: r.plan.Total}
}

func (r *queryRead) take(a *fsmAnswer) {
	r.part = make(shardPartial, len(a.Partial))
	for g, w := range a.Partial {
		r.part[g] = &partial{count: w.Count, sum: w.Sum, min: w.Min, max: w.Max}
	}
}

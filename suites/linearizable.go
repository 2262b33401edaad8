package suites

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/phantomdb/phantom/suites/metrics"
)

// regInput is an op of the register model: a write of value, or a read.
type regInput struct {
	key   int // the sampled key, for partitioning
	write bool
	value uint64
}

// registerModel is a register per key: a read returns the last value
// written (0 before any write). Values are unique, so the state is the
// write id alone.
var registerModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		var order []int
		for _, op := range ops {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return uint64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.write {
			return true, in.value
		}
		return output.(uint64) == state.(uint64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.write {
			return "put " + describeValue(in.value)
		}
		return "get → " + describeValue(output.(uint64))
	},
	DescribeState: func(state any) string { return describeValue(state.(uint64)) },
}

// describeValue names a write id as the visualisation shows it.
func describeValue(v uint64) string {
	switch v {
	case 0:
		return "none"
	case foreign:
		return "a value no write of this key wrote"
	}
	return fmt.Sprintf("#%d", uint32(v))
}

// operations turns key k's recorded ops into porcupine's, and counts the
// ops past its cap (not recorded).
func (h *history) operations(k int) (ops []porcupine.Operation, past int64) {
	kh := &h.keys[k]
	n := min(kh.next.Load(), kh.limit.Load())
	past = kh.next.Load() - n
	beyond := map[uint64]bool{} // values of writes past the cap that reads returned
	clients := 0
	for seq := range n {
		op := &kh.chunks[seq/chunkOps].Load()[seq%chunkOps]
		clients = max(clients, int(op.client)+1)
		in := regInput{key: k, write: op.write}
		switch {
		case op.write && op.state == opFailed:
			continue
		case op.write:
			in.value = op.value
			ret := op.ret
			if op.state != opDone { // open: it may take effect any time after its call
				ret = math.MaxInt64
			}
			ops = append(ops, porcupine.Operation{ClientId: int(op.client), Input: in, Call: op.call, Output: uint64(0), Return: ret})
		case op.state == opDone:
			if v := op.value; v != 0 && v != foreign && int64(uint32(v))-1 >= n {
				beyond[v] = true
			}
			ops = append(ops, porcupine.Operation{ClientId: int(op.client), Input: in, Call: op.call, Output: op.value, Return: op.ret})
		}
	}
	// A read may return the value of a write past the cap: that write
	// began after every recorded op had claimed its slot, so an open
	// interval is a sound (if weak) stand-in for it.
	for v := range beyond {
		ops = append(ops, porcupine.Operation{ClientId: clients, Input: regInput{key: k, write: true, value: v}, Call: 0, Output: uint64(0), Return: math.MaxInt64})
	}
	return ops, past
}

// check decides whether the recorded history is linearizable, within the
// time budget and ctx. On a violation it writes porcupine's visualisation
// of the offending key's history to dir and names it in the detail.
func (h *history) check(ctx context.Context, suite, dir string) metrics.Check {
	start := time.Now()
	c := metrics.Check{Name: "linearizable", Suite: suite}
	budget := h.lim.Budget
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d)/2)
	}
	var all []porcupine.Operation
	perKey := make([][]porcupine.Operation, len(h.keys))
	var past int64
	for k := range h.keys {
		ops, p := h.operations(k)
		perKey[k] = ops
		past += p
		all = append(all, ops...)
		if len(ops) > 0 {
			c.Keys++
		}
	}
	c.Ops = int64(len(all))
	finish := func(v metrics.CheckVerdict, detail string) metrics.Check {
		c.Verdict, c.Detail, c.Seconds = v, detail, time.Since(start).Seconds()
		return c
	}
	res := porcupine.CheckOperationsTimeout(registerModel, all, budget)
	switch res {
	case porcupine.Ok:
		detail := fmt.Sprintf("every read saw the last write, on %d of %d keys sampled", c.Keys, len(h.keys))
		if past > 0 {
			detail += fmt.Sprintf("; %s ops past the cap of %d per key not recorded", metrics.FormatCount(float64(past)), h.lim.OpsPerKey)
		}
		return finish(metrics.CheckOK, detail)
	case porcupine.Unknown:
		return finish(metrics.CheckUnknown, fmt.Sprintf("the check's time budget of %v ran out before it decided", budget.Round(time.Millisecond)))
	}
	// Illegal: find the key, and show its history.
	left := budget - time.Since(start)
	for k, ops := range perKey {
		if len(ops) == 0 {
			continue
		}
		if left <= 0 {
			break
		}
		r, info := porcupine.CheckOperationsVerbose(registerModel, ops, left)
		if r != porcupine.Illegal {
			left = budget - time.Since(start)
			continue
		}
		detail := fmt.Sprintf("key %s: its history of %d ops is not linearizable (a read missed an acknowledged write or saw one out of order)", h.names[k], len(ops))
		if path, err := writeVisualisation(dir, suite, h.names[k], info); err != nil {
			detail += "; the visualisation could not be written: " + err.Error()
		} else {
			detail += "; see " + path
		}
		return finish(metrics.CheckViolated, detail)
	}
	return finish(metrics.CheckViolated, "the history is not linearizable; the key could not be singled out within the time budget")
}

// writeVisualisation writes porcupine's HTML view of one key's history to
// dir (the working directory when empty, the temporary directory when that
// cannot be written) and returns its path.
func writeVisualisation(dir, suite, key string, info porcupine.LinearizationInfo) (string, error) {
	name := fmt.Sprintf("phantom-%s-%s-%s.html", suite, strings.NewReplacer("/", "-", "\\", "-").Replace(key), time.Now().Format("20060102-150405"))
	var err error
	for _, d := range []string{dir, os.TempDir()} {
		if d == "" {
			d = "."
		}
		path := filepath.Join(d, name)
		if err = porcupine.VisualizePath(registerModel, info, path); err == nil {
			if abs, aerr := filepath.Abs(path); aerr == nil {
				path = abs
			}
			return path, nil
		}
		os.Remove(path)
	}
	return "", err
}

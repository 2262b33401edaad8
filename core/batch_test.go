package core

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// While the batcher's slots are taken, commands gather into one entry, and
// each caller gets its own command's response, or the entry's error.
func TestBatcherCombinesWaitingCommands(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			var b batcher
			release := make(chan struct{})
			var mu sync.Mutex
			var entries [][]byte
			send := func(entry []byte, ph *Phases) (any, error) {
				if ph != nil {
					ph.Replicate += time.Millisecond // stands for the entry's raft phases
				}
				mu.Lock()
				entries = append(entries, entry)
				mu.Unlock()
				<-release
				if fail {
					return nil, raft.ErrNotLeader
				}
				if entry[0] != opTxnBatch {
					return "resp " + string(entry), nil
				}
				r := rbuf{b: entry[1:]}
				resps := make([]any, r.uvarint())
				for i := range resps {
					resps[i] = "resp " + string(r.bytes())
				}
				return resps, nil
			}
			const n = batchInFlight + 5
			resps := make([]any, n)
			errs := make([]error, n)
			phs := make([]Phases, n)
			var wg sync.WaitGroup
			for i := range n {
				if i == batchInFlight {
					waitFor(t, "the first commands to take every slot", func() bool {
						mu.Lock()
						defer mu.Unlock()
						return len(entries) == batchInFlight
					})
				}
				wg.Go(func() { resps[i], errs[i] = b.do(fmt.Appendf(nil, "%c%d", opSagaStep, i), &phs[i], send) })
			}
			waitFor(t, "the rest to queue", func() bool {
				b.mu.Lock()
				defer b.mu.Unlock()
				return len(b.queue) == 1 && len(b.queue[0].cmds) == n-batchInFlight
			})
			close(release)
			wg.Wait()
			if len(entries) != batchInFlight+1 || entries[batchInFlight][0] != opTxnBatch {
				t.Fatalf("sent %d entries, want %d alone and then one batch", len(entries), batchInFlight)
			}
			for i := range n {
				want := fmt.Sprintf("resp %c%d", opSagaStep, i)
				switch {
				case fail && !errors.Is(errs[i], raft.ErrNotLeader):
					t.Errorf("command %d: err = %v, want the entry's error", i, errs[i])
				case !fail && (errs[i] != nil || resps[i] != want):
					t.Errorf("command %d: %v, %v; want %q", i, resps[i], errs[i], want)
				}
			}
			if b.inFlight != 0 || len(b.queue) != 0 {
				t.Errorf("batcher left with %d in flight and %d queued", b.inFlight, len(b.queue))
			}
			// The first commands went at once; the rest waited for the
			// release, and each has the phases of the entry that carried it.
			for i := range n {
				waited := i >= batchInFlight
				if (phs[i].Batch > 0) != waited || phs[i].Replicate != time.Millisecond {
					t.Errorf("command %d: phases %+v; want a batch wait %v and the entry's phases", i, phs[i], waited)
				}
			}
		})
	}
}

// The state machine applies a batch's commands in order, answers each on
// its own (a malformed one with an error, without harming the rest), and a
// snapshot taken after it holds all their state.
func TestFSMAppliesBatch(t *testing.T) {
	value := []byte("v")
	cmds := [][]byte{
		encodePrepare(1, 0, 42, []Op{Set("a", value), Set("b", value)}),
		encodePrepare(2, 0, 42, []Op{Set("b", value)}), // b is locked by 1
		{opTxnFinish, 0xff}, // malformed
		encodeCommit(1, testMeta, nil, []int{1}, nil),
		encodeFinish(1, true),
		encodePrepare(3, 0, 42, []Op{Add("n", 5)}),
		encodeSagaStep(9, 0, Add("s", 3), txnMeta{}, nil),
		encodeSagaStep(9, 0, Add("s", 3), txnMeta{}, nil), // a replay
		encodeBatch([][]byte{encodeFinish(3, true)}, 16),  // no nesting
	}
	size := 0
	for _, c := range cmds {
		size += len(c) + 8
	}
	src := newFSM()
	out := src.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: encodeBatch(cmds, size)}})
	resps, ok := out[0].([]any)
	if !ok || len(resps) != len(cmds) {
		t.Fatalf("response %#v, want one per command", out[0])
	}
	want := []any{
		voteResp{vote: voteYes},
		voteResp{vote: voteConflict, holders: []lockHolder{{txn: 1, coord: 0, start: 42}}},
		errBadCommand,
		voteResp{vote: voteYes},
		nil,
		voteResp{vote: voteYes},
		voteResp{vote: voteYes},
		voteResp{vote: voteYes},
		errBadCommand,
	}
	for i := range want {
		if fmt.Sprint(resps[i]) != fmt.Sprint(want[i]) {
			t.Errorf("command %d: response %v, want %v", i, resps[i], want[i])
		}
	}

	dst := snapshotCopy(t, src)
	for _, f := range []*fsm{src, dst} {
		if !bytes.Equal(f.data["a"], value) || !bytes.Equal(f.data["b"], value) || string(f.data["s"]) != "3" {
			t.Errorf("data %q: want a and b committed and s = 3", f.data)
		}
		if l := f.tx.locks["n"]; len(f.tx.locks) != 1 || l == nil || string(l.value) != "5" {
			t.Errorf("locks %v: want txn 3's on n only", f.tx.locks)
		}
		if d, ok := f.tx.decisions[1]; !ok || !d.commit {
			t.Error("txn 1's decision is missing")
		}
		if r := f.tx.sagaSteps[sagaKey{9, 0}]; r == nil || r.state != stepApplied {
			t.Errorf("saga record %+v, want step applied", r)
		}
	}
}

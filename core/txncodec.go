package core

import (
	"encoding/binary"
	"strconv"
)

// Transaction and saga commands share the log with puts (command.go) and are
// told apart by their op byte, which is at least opTxnPrepare. Their fields
// are uvarints, zigzag varints and length-prefixed byte strings, in the
// order each encoder writes them.
const (
	opTxnPrepare byte = 16 + iota
	opTxnDecide
	opTxnFinish
	opSagaStep
	opSagaUndo
	opTxnCommit
	// opTxnBatch is a log entry holding several of the commands above
	// (batch.go): the command count, then each command length-prefixed.
	opTxnBatch
	// opTxnDone marks commit records finished on every participant.
	opTxnDone
)

// wbuf appends a command's fields.
type wbuf []byte

func (b *wbuf) uvarint(v uint64) { *b = binary.AppendUvarint(*b, v) }
func (b *wbuf) varint(v int64)   { *b = binary.AppendVarint(*b, v) }
func (b *wbuf) bytes(p []byte)   { b.uvarint(uint64(len(p))); *b = append(*b, p...) }
func (b *wbuf) str(s string)     { b.uvarint(uint64(len(s))); *b = append(*b, s...) }
func (b *wbuf) byte1(v byte)     { *b = append(*b, v) }

// rbuf reads a command's fields; the first malformed field sets bad and
// every later read returns zero.
type rbuf struct {
	b   []byte
	bad bool
}

func (r *rbuf) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes aliases the command's buffer.
func (r *rbuf) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *rbuf) byte1() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// encodeOp writes one Op: its kind, key, and value or delta.
func (b *wbuf) op(o Op) {
	b.byte1(byte(o.kind))
	b.str(o.Key)
	switch o.kind {
	case opSet:
		b.bytes(o.Value)
	case opAdd:
		b.varint(o.Delta)
	}
}

// op reads an Op; its key and value alias the command's buffer until the
// state machine copies what it keeps.
func (r *rbuf) op() (kind opKind, key []byte, value []byte, delta int64) {
	kind = opKind(r.byte1())
	key = r.bytes()
	switch kind {
	case opSet:
		value = r.bytes()
	case opAdd:
		delta = r.varint()
	case opDelete:
	default:
		r.bad = true
	}
	return kind, key, value, delta
}

// meta writes a txnMeta.
func (b *wbuf) meta(m txnMeta) {
	b.varint(m.start)
	b.varint(m.now)
	b.varint(m.window)
	b.varint(m.keep)
}

func (r *rbuf) meta() txnMeta {
	return txnMeta{start: r.varint(), now: r.varint(), window: r.varint(), keep: r.varint()}
}

// ids writes a count and the transaction ids.
func (b *wbuf) ids(ids []uint64) {
	b.uvarint(uint64(len(ids)))
	for _, id := range ids {
		b.uvarint(id)
	}
}

// ids reads what wbuf.ids wrote; a count larger than the rest of the
// command is malformed.
func (r *rbuf) ids() []uint64 {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	var ids []uint64
	if n > 0 {
		ids = make([]uint64, 0, n)
	}
	for range n {
		ids = append(ids, r.uvarint())
	}
	return ids
}

func (r *rbuf) ints() []int {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	var v []int
	if n > 0 {
		v = make([]int, 0, n)
	}
	for range n {
		v = append(v, int(r.uvarint()))
	}
	return v
}

func encodePrepare(id uint64, coord int, start int64, ops []Op) []byte {
	size := 32
	for _, o := range ops {
		size += len(o.Key) + len(o.Value) + 2*binary.MaxVarintLen64
	}
	b := make(wbuf, 0, size)
	b.byte1(opTxnPrepare)
	b.uvarint(id)
	b.uvarint(uint64(coord))
	b.varint(start)
	b.uvarint(uint64(len(ops)))
	for _, o := range ops {
		b.op(o)
	}
	return b
}

// encodeCommit is the coordinator's commit: its own writes, applied at
// once, and the decision record, in one command. parts are the other
// participants' shards, which the record keeps until they are finished;
// forget lists commit records nothing needs any more (fsm.forgetLocked).
func encodeCommit(id uint64, m txnMeta, forget []uint64, parts []int, ops []Op) []byte {
	size := 48 + (len(forget)+len(parts))*binary.MaxVarintLen64
	for _, o := range ops {
		size += len(o.Key) + len(o.Value) + 2*binary.MaxVarintLen64
	}
	b := make(wbuf, 0, size)
	b.byte1(opTxnCommit)
	b.uvarint(id)
	b.meta(m)
	b.ids(forget)
	b.uvarint(uint64(len(parts)))
	for _, p := range parts {
		b.uvarint(uint64(p))
	}
	b.uvarint(uint64(len(ops)))
	for _, o := range ops {
		b.op(o)
	}
	return b
}

// encodeDecide aborts id unless it is decided already; its answer is the
// decision that holds (fsm.abortLocked).
func encodeDecide(id uint64, m txnMeta, forget []uint64) []byte {
	b := make(wbuf, 0, 48+len(forget)*binary.MaxVarintLen64)
	b.byte1(opTxnDecide)
	b.uvarint(id)
	b.meta(m)
	b.ids(forget)
	return b
}

// encodeDone marks the commit records ids finished on every participant.
func encodeDone(now int64, ids []uint64) []byte {
	b := make(wbuf, 0, 16+len(ids)*binary.MaxVarintLen64)
	b.byte1(opTxnDone)
	b.varint(now)
	b.ids(ids)
	return b
}

func encodeFinish(id uint64, commit bool) []byte {
	b := make(wbuf, 0, 16)
	b.byte1(opTxnFinish)
	b.uvarint(id)
	b.byte1(boolByte(commit))
	return b
}

// Saga steps and compensations carry the proposer's clock and the
// retention of the records they write (m.now and m.keep), and the keys of
// records their shard may forget.
func encodeSagaStep(id uint64, step int, o Op, m txnMeta, forget []sagaKey) []byte {
	b := make(wbuf, 0, 48+len(o.Key)+len(o.Value)+len(forget)*2*binary.MaxVarintLen64)
	b.byte1(opSagaStep)
	b.uvarint(id)
	b.uvarint(uint64(step))
	b.op(o)
	b.varint(m.now)
	b.varint(m.keep)
	b.sagaKeys(forget)
	return b
}

// encodeSagaUndo's token identifies one compensation, however often its
// command is retried.
func encodeSagaUndo(id uint64, step int, token uint64, m txnMeta, forget []sagaKey) []byte {
	b := make(wbuf, 0, 56+len(forget)*2*binary.MaxVarintLen64)
	b.byte1(opSagaUndo)
	b.uvarint(id)
	b.uvarint(uint64(step))
	b.uvarint(token)
	b.varint(m.now)
	b.varint(m.keep)
	b.sagaKeys(forget)
	return b
}

func (b *wbuf) sagaKeys(ks []sagaKey) {
	b.uvarint(uint64(len(ks)))
	for _, k := range ks {
		b.uvarint(k.saga)
		b.uvarint(uint64(k.step))
	}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Integers that Add works on are stored as decimal text, so that Get shows
// them as they are; a missing key counts as 0.
func parseInt(v []byte, ok bool) (int64, bool) {
	if !ok {
		return 0, true
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

func formatInt(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// Frame types. A request frame is its type, the body's length as a uvarint,
// and the body; an InstallSnapshot request's body is followed by the
// snapshot's Size bytes, unframed. A response frame is a status (statusOK or
// statusErr), the body's length and the body: the response for statusOK,
// the error's text for statusErr.
const (
	typeAppendEntries byte = iota + 1
	typeRequestVote
	typeRequestPreVote
	typeInstallSnapshot
	typeTimeoutNow

	statusOK  byte = 0
	statusErr byte = 1
)

// preamble opens every connection, from the dialling side: a peer speaking
// something else (raft's NetworkTransport, a stray client) is dropped at
// once rather than misread.
const preamble = "phw1"

// MaxFrame bounds a frame's body. An append of MaxAppendEntries entries of
// a few MiB each fits many times over; a corrupt length beyond it ends the
// connection instead of an allocation.
const MaxFrame = 1 << 30

// allocStep is the most readFrame allocates ahead of the bytes that have
// arrived: a body larger than it grows as it is read, so a huge length
// prefix on a connection that then sends little costs little memory.
const allocStep = 1 << 20

// minEntryBytes is the fewest bytes an encoded entry takes (index, term,
// type, data, extensions, appended-at: one byte each), which bounds the
// entries a body of a given length can claim before they are allocated.
const minEntryBytes = 6

var errCorrupt = errors.New("wire: corrupt frame")

// encoder writes fields to w, or, with w nil, only counts their bytes in n:
// each message's encoding is one function run twice, once to size the
// frame and once to write it, so size and bytes cannot disagree.
type encoder struct {
	w *bufio.Writer
	n int
}

func (e *encoder) byte(b byte) {
	if e.w == nil {
		e.n++
		return
	}
	_ = e.w.WriteByte(b) // bufio's error is sticky; Flush reports it
}

func (e *encoder) uvarint(v uint64) {
	if e.w == nil {
		e.n += uvarintLen(v)
		return
	}
	_, _ = e.w.Write(binary.AppendUvarint(e.w.AvailableBuffer(), v))
}

func (e *encoder) varint(v int64) {
	e.uvarint(uint64(v<<1) ^ uint64(v>>63))
}

func (e *encoder) bool(b bool) {
	if b {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

// bytes writes b's length plus one, 0 for nil, then b: a nil slice and an
// empty one stay apart (raft tells a heartbeat by a non-nil leader address).
func (e *encoder) bytes(b []byte) {
	if b == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(b)) + 1)
	if e.w == nil {
		e.n += len(b)
		return
	}
	_, _ = e.w.Write(b)
}

func (e *encoder) string(s string) {
	e.uvarint(uint64(len(s)) + 1)
	if e.w == nil {
		e.n += len(s)
		return
	}
	_, _ = e.w.WriteString(s)
}

func (e *encoder) header(h *raft.RPCHeader) {
	e.varint(int64(h.ProtocolVersion))
	e.bytes(h.ID)
	e.bytes(h.Addr)
}

// time writes t as Unix nanoseconds, 0 for the zero time. Raft uses an
// entry's AppendedAt for reporting only; location and monotonic reading are
// dropped, as they are by any encoding.
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		return
	}
	e.varint(t.UnixNano())
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// encodeBody writes msg's fields. msg is one of the request or response
// types of raft's RPCs, or a string (an error's text).
func encodeBody(e *encoder, msg any) error {
	switch m := msg.(type) {
	case *raft.AppendEntriesRequest:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.bytes(m.Leader)
		e.uvarint(m.PrevLogEntry)
		e.uvarint(m.PrevLogTerm)
		e.uvarint(m.LeaderCommitIndex)
		e.uvarint(uint64(len(m.Entries)))
		for _, l := range m.Entries {
			e.uvarint(l.Index)
			e.uvarint(l.Term)
			e.byte(byte(l.Type))
			e.bytes(l.Data)
			e.bytes(l.Extensions)
			e.time(l.AppendedAt)
		}
	case *raft.AppendEntriesResponse:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.uvarint(m.LastLog)
		e.bool(m.Success)
		e.bool(m.NoRetryBackoff)
	case *raft.RequestVoteRequest:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.bytes(m.Candidate)
		e.uvarint(m.LastLogIndex)
		e.uvarint(m.LastLogTerm)
		e.bool(m.LeadershipTransfer)
	case *raft.RequestVoteResponse:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.bytes(m.Peers)
		e.bool(m.Granted)
	case *raft.RequestPreVoteRequest:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.uvarint(m.LastLogIndex)
		e.uvarint(m.LastLogTerm)
	case *raft.RequestPreVoteResponse:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.bool(m.Granted)
	case *raft.InstallSnapshotRequest:
		e.header(&m.RPCHeader)
		e.varint(int64(m.SnapshotVersion))
		e.uvarint(m.Term)
		e.bytes(m.Leader)
		e.uvarint(m.LastLogIndex)
		e.uvarint(m.LastLogTerm)
		e.bytes(m.Peers)
		e.bytes(m.Configuration)
		e.uvarint(m.ConfigurationIndex)
		e.varint(m.Size)
	case *raft.InstallSnapshotResponse:
		e.header(&m.RPCHeader)
		e.uvarint(m.Term)
		e.bool(m.Success)
	case *raft.TimeoutNowRequest:
		e.header(&m.RPCHeader)
	case *raft.TimeoutNowResponse:
		e.header(&m.RPCHeader)
	case string:
		e.string(m)
	default:
		return fmt.Errorf("wire: cannot encode %T", msg)
	}
	return nil
}

// frameSize is the size of msg's frame, kind and length included.
func frameSize(msg any) (int, error) {
	e := encoder{}
	if err := encodeBody(&e, msg); err != nil {
		return 0, err
	}
	if e.n > MaxFrame {
		return 0, fmt.Errorf("wire: frame of %d bytes exceeds %d", e.n, MaxFrame)
	}
	return 1 + uvarintLen(uint64(e.n)) + e.n, nil
}

// writeFrame writes one frame: kind (a type or a status), the body's length
// and msg's body. It does not flush.
func writeFrame(w *bufio.Writer, kind byte, msg any) error {
	size := encoder{}
	if err := encodeBody(&size, msg); err != nil {
		return err
	}
	if size.n > MaxFrame {
		return fmt.Errorf("wire: frame of %d bytes exceeds %d", size.n, MaxFrame)
	}
	e := encoder{w: w}
	e.byte(kind)
	e.uvarint(uint64(size.n))
	return encodeBody(&e, msg)
}

// readFrame reads a frame's kind and body. A body of up to reuseMax bytes
// goes into buf, grown if need be (the buffer is returned for reuse); a
// larger one into a new slice of its own, owned true, which the decoded
// message may keep.
func readFrame(r *bufio.Reader, buf []byte, reuseMax int) (kind byte, body, newBuf []byte, owned bool, err error) {
	kind, err = r.ReadByte()
	if err != nil {
		return 0, nil, buf, false, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, buf, false, unexpectedEOF(err)
	}
	if n > MaxFrame {
		return 0, nil, buf, false, fmt.Errorf("wire: frame of %d bytes exceeds %d", n, MaxFrame)
	}
	size := int(n)
	if size <= reuseMax {
		if size > cap(buf) {
			buf = make([]byte, max(size, min(2*cap(buf), reuseMax), 512))
		}
		body = buf[:size]
		_, err = io.ReadFull(r, body)
		return kind, body, buf, false, unexpectedEOF(err)
	}
	if size <= allocStep {
		body = make([]byte, size)
		_, err = io.ReadFull(r, body)
		return kind, body, buf, true, unexpectedEOF(err)
	}
	// Grow with what arrives, at most doubling what has, to the exact size.
	body = make([]byte, 0, allocStep)
	for len(body) < size {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), min(size, 2*cap(body)))
			copy(grown, body)
			body = grown
		}
		var got int
		got, err = io.ReadFull(r, body[len(body):cap(body)])
		body = body[:len(body)+got]
		if err != nil {
			break
		}
	}
	return kind, body, buf, true, unexpectedEOF(err)
}

// unexpectedEOF turns an EOF inside a frame into io.ErrUnexpectedEOF: only
// an EOF before a frame's first byte is a clean end.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decoder reads fields from b. A field that runs past b's end, or a value
// out of range, marks it bad and leaves every later field zero.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) fail() {
	d.bad = true
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail()
		return false
	}
}

// bytes returns a slice of the body itself, capacity clipped, so the
// caller decides whether it may alias the body or must copy.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	n--
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) header(h *raft.RPCHeader) {
	h.ProtocolVersion = raft.ProtocolVersion(d.int())
	h.ID = d.bytes()
	h.Addr = d.bytes()
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// end reports whether the whole body decoded, with nothing left over.
func (d *decoder) end() error {
	if d.bad || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

// decodeRequest decodes a request body of the given type into a new
// command that keeps no slice of body, with one exception: with owned set
// (body was allocated for this request alone and is never reused), an
// append of a single entry keeps that entry's data in body, saving a copy
// of what may be a large value.
//
// Each entry's data is otherwise a slice of its own. raft's log store keeps
// entries, and the core's state machine keeps slices of their data as its
// values: data sharing one buffer would keep all of it alive as long as any
// of its values lives.
func decodeRequest(typ byte, body []byte, hc *headerCache, owned bool) (any, error) {
	d := decoder{b: body}
	var cmd any
	switch typ {
	case typeAppendEntries:
		m := &raft.AppendEntriesRequest{}
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.Leader = hc.get(&hc.leader, d.bytes())
		m.PrevLogEntry = d.uvarint()
		m.PrevLogTerm = d.uvarint()
		m.LeaderCommitIndex = d.uvarint()
		n := d.uvarint()
		if n > uint64(len(d.b)/minEntryBytes) {
			return nil, errCorrupt
		}
		if n > 0 {
			own := ownBytes
			if owned && n == 1 {
				own = func(b []byte) []byte { return b }
			}
			// Two allocations for all the entries' structs: raft's log
			// store may keep the pointers, and nothing here reuses them.
			logs := make([]raft.Log, n)
			m.Entries = make([]*raft.Log, n)
			for i := range logs {
				l := &logs[i]
				l.Index = d.uvarint()
				l.Term = d.uvarint()
				l.Type = raft.LogType(d.byte())
				l.Data = own(d.bytes())
				l.Extensions = own(d.bytes())
				l.AppendedAt = d.time()
				m.Entries[i] = l
			}
		}
		cmd = m
	case typeRequestVote:
		m := &raft.RequestVoteRequest{}
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.Candidate = hc.get(&hc.leader, d.bytes())
		m.LastLogIndex = d.uvarint()
		m.LastLogTerm = d.uvarint()
		m.LeadershipTransfer = d.bool()
		cmd = m
	case typeRequestPreVote:
		m := &raft.RequestPreVoteRequest{}
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.LastLogIndex = d.uvarint()
		m.LastLogTerm = d.uvarint()
		cmd = m
	case typeInstallSnapshot:
		m := &raft.InstallSnapshotRequest{}
		hc.header(&d, &m.RPCHeader)
		m.SnapshotVersion = raft.SnapshotVersion(d.int())
		m.Term = d.uvarint()
		m.Leader = hc.get(&hc.leader, d.bytes())
		m.LastLogIndex = d.uvarint()
		m.LastLogTerm = d.uvarint()
		m.Peers = ownBytes(d.bytes())
		m.Configuration = ownBytes(d.bytes())
		m.ConfigurationIndex = d.uvarint()
		m.Size = d.varint()
		if m.Size < 0 {
			return nil, errCorrupt
		}
		cmd = m
	case typeTimeoutNow:
		m := &raft.TimeoutNowRequest{}
		hc.header(&d, &m.RPCHeader)
		cmd = m
	default:
		return nil, fmt.Errorf("wire: unknown request type %d", typ)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// requestType is the frame type of a request command.
func requestType(cmd any) (byte, error) {
	switch cmd.(type) {
	case *raft.AppendEntriesRequest:
		return typeAppendEntries, nil
	case *raft.RequestVoteRequest:
		return typeRequestVote, nil
	case *raft.RequestPreVoteRequest:
		return typeRequestPreVote, nil
	case *raft.InstallSnapshotRequest:
		return typeInstallSnapshot, nil
	case *raft.TimeoutNowRequest:
		return typeTimeoutNow, nil
	}
	return 0, fmt.Errorf("wire: cannot send %T", cmd)
}

// headerCache keeps the last ID, Addr and leader address a connection's
// messages carried. A peer sends the same ones every time, and bodies are
// read into a reused buffer, so the cache saves copying them for each
// message: a message gets the cached copies, which nothing modifies.
type headerCache struct {
	id, addr, leader []byte
}

func (c *headerCache) get(cached *[]byte, b []byte) []byte {
	if b == nil {
		return nil
	}
	if *cached == nil || string(*cached) != string(b) {
		*cached = append([]byte{}, b...)
	}
	return *cached
}

func (c *headerCache) header(d *decoder, h *raft.RPCHeader) {
	d.header(h)
	h.ID = c.get(&c.id, h.ID)
	h.Addr = c.get(&c.addr, h.Addr)
}

// ownBytes copies b, which aliases a reused buffer; nil stays nil.
func ownBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// decodeResponse decodes a response body into resp, which must be the
// response type of the request sent. body is a reused buffer: resp keeps
// no slice of it.
func decodeResponse(body []byte, resp any, hc *headerCache) error {
	d := decoder{b: body}
	switch m := resp.(type) {
	case *raft.AppendEntriesResponse:
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.LastLog = d.uvarint()
		m.Success = d.bool()
		m.NoRetryBackoff = d.bool()
	case *raft.RequestVoteResponse:
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.Peers = ownBytes(d.bytes())
		m.Granted = d.bool()
	case *raft.RequestPreVoteResponse:
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.Granted = d.bool()
	case *raft.InstallSnapshotResponse:
		hc.header(&d, &m.RPCHeader)
		m.Term = d.uvarint()
		m.Success = d.bool()
	case *raft.TimeoutNowResponse:
		hc.header(&d, &m.RPCHeader)
	default:
		return fmt.Errorf("wire: cannot decode into %T", resp)
	}
	return d.end()
}

// decodeError decodes the text of a statusErr response.
func decodeError(body []byte) (string, error) {
	d := decoder{b: body}
	b := d.bytes()
	if err := d.end(); err != nil {
		return "", err
	}
	return string(b), nil
}

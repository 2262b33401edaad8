package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/hashicorp/raft"
)

func hdr(id, addr string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(addr)}
}

// requests are every request type, with edge cases: empty and nil slices,
// zero and maximal integers, zero and non-zero times.
func requests() map[string]any {
	at := time.Unix(0, time.Date(2026, 11, 29, 3, 0, 0, 123456789, time.UTC).UnixNano())
	big := bytes.Repeat([]byte{0xab}, 300<<10)
	return map[string]any{
		"heartbeat": &raft.AppendEntriesRequest{RPCHeader: hdr("n1", "127.0.0.1:1"), Term: 7, Leader: []byte("127.0.0.1:1")},
		"append": &raft.AppendEntriesRequest{
			RPCHeader: hdr("n1", "127.0.0.1:1"), Term: math.MaxUint64, Leader: []byte{},
			PrevLogEntry: 1 << 40, PrevLogTerm: 6, LeaderCommitIndex: 1<<63 + 5,
			Entries: []*raft.Log{
				{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("x"), AppendedAt: at},
				{Index: 2, Term: 1, Type: raft.LogConfiguration, Data: []byte{}, Extensions: []byte("ext")},
				{Index: 3, Term: 2, Type: raft.LogNoop},
				{Index: 4, Term: 2, Type: raft.LogCommand, Data: big, AppendedAt: at},
			},
		},
		"empty header":     &raft.AppendEntriesRequest{},
		"vote":             &raft.RequestVoteRequest{RPCHeader: hdr("n2", "a"), Term: 3, Candidate: []byte("a"), LastLogIndex: 9, LastLogTerm: 2, LeadershipTransfer: true},
		"prevote":          &raft.RequestPreVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: -1}, Term: 3, LastLogIndex: 9, LastLogTerm: 2},
		"install snapshot": &raft.InstallSnapshotRequest{RPCHeader: hdr("n1", "b"), SnapshotVersion: 1, Term: 4, Leader: []byte("b"), LastLogIndex: 100, LastLogTerm: 3, Peers: nil, Configuration: []byte{1, 2, 3}, ConfigurationIndex: 50, Size: 1 << 33},
		"timeout now":      &raft.TimeoutNowRequest{RPCHeader: hdr("n1", "c")},
	}
}

func responses() map[string]any {
	return map[string]any{
		"append ok":      &raft.AppendEntriesResponse{RPCHeader: hdr("n2", "d"), Term: 5, LastLog: 1 << 50, Success: true, NoRetryBackoff: true},
		"append refused": &raft.AppendEntriesResponse{Term: 5, LastLog: 3},
		"vote":           &raft.RequestVoteResponse{RPCHeader: hdr("n2", "d"), Term: 5, Peers: []byte("peers"), Granted: true},
		"prevote":        &raft.RequestPreVoteResponse{RPCHeader: hdr("n2", "d"), Term: 5, Granted: true},
		"snapshot":       &raft.InstallSnapshotResponse{RPCHeader: hdr("n2", "d"), Term: 5, Success: true},
		"timeout now":    &raft.TimeoutNowResponse{RPCHeader: hdr("n2", "d")},
	}
}

func encode(t testing.TB, kind byte, msg any) []byte {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := writeFrame(w, kind, msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRequestsRoundTrip decodes each request read both ways: into a slice
// of its own, and into a reused buffer that is then overwritten, which the
// request must not notice.
func TestRequestsRoundTrip(t *testing.T) {
	for name, req := range requests() {
		for _, reuse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/reuse=%v", name, reuse), func(t *testing.T) {
				typ, err := requestType(req)
				if err != nil {
					t.Fatal(err)
				}
				frame := encode(t, typ, req)
				r := bufio.NewReader(bytes.NewReader(frame))
				reuseMax := 0
				if reuse {
					reuseMax = MaxFrame
				}
				kind, body, buf, owned, err := readFrame(r, nil, reuseMax)
				if err != nil {
					t.Fatal(err)
				}
				if kind != typ || owned == reuse {
					t.Fatalf("type %d, owned %v; want %d, %v", kind, owned, typ, !reuse)
				}
				got, err := decodeRequest(kind, body, &headerCache{}, owned)
				if err != nil {
					t.Fatal(err)
				}
				if reuse {
					for i := range buf[:cap(buf)] {
						buf[:cap(buf)][i] = 0xee
					}
				}
				if !reflect.DeepEqual(got, req) {
					t.Errorf("decoded\n%+v\nwant\n%+v", got, req)
				}
				if _, err := r.ReadByte(); err != io.EOF {
					t.Errorf("bytes left after the frame")
				}
			})
		}
	}
}

// TestEntriesDoNotShareABuffer: the entries of an append of several keep
// no slice of the body nor of each other, since the state machine keeps
// their data as values, and a shared buffer would live as long as any of
// them. An append of one entry read into a slice of its own keeps it.
func TestEntriesDoNotShareABuffer(t *testing.T) {
	req := requests()["append"].(*raft.AppendEntriesRequest)
	frame := encode(t, typeAppendEntries, req)
	_, body, _, owned, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, 0)
	if err != nil || !owned {
		t.Fatalf("owned %v, err %v", owned, err)
	}
	cmd, err := decodeRequest(typeAppendEntries, body, &headerCache{}, owned)
	if err != nil {
		t.Fatal(err)
	}
	in := func(b, of []byte) bool {
		return len(b) > 0 && len(of) > 0 &&
			uintptr(unsafe.Pointer(&b[0])) >= uintptr(unsafe.Pointer(&of[0])) &&
			uintptr(unsafe.Pointer(&b[0])) < uintptr(unsafe.Pointer(&of[0]))+uintptr(cap(of))
	}
	for i, l := range cmd.(*raft.AppendEntriesRequest).Entries {
		if in(l.Data, body) || in(l.Extensions, body) {
			t.Errorf("entry %d of %d keeps a slice of the body", i, len(req.Entries))
		}
	}

	one := &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Data: bytes.Repeat([]byte{1}, 1000)}}}
	_, body, _, owned, _ = readFrame(bufio.NewReader(bytes.NewReader(encode(t, typeAppendEntries, one))), nil, 0)
	cmd, err = decodeRequest(typeAppendEntries, body, &headerCache{}, owned)
	if err != nil {
		t.Fatal(err)
	}
	if l := cmd.(*raft.AppendEntriesRequest).Entries[0]; !in(l.Data, body) {
		t.Errorf("a single entry's data was copied out of a body of its own")
	}
}

func TestResponsesRoundTrip(t *testing.T) {
	var hc headerCache
	for name, want := range responses() {
		t.Run(name, func(t *testing.T) {
			frame := encode(t, statusOK, want)
			// A reused buffer, dirtied after decoding: the response must
			// keep nothing of it.
			buf := make([]byte, 0, 1024)
			kind, body, buf, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), buf, 1024)
			if err != nil || kind != statusOK {
				t.Fatalf("kind %d, err %v", kind, err)
			}
			got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
			if err := decodeResponse(body, got, &hc); err != nil {
				t.Fatal(err)
			}
			for i := range buf[:cap(buf)] {
				buf[:cap(buf)][i] = 0xff
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestErrorRoundTrip(t *testing.T) {
	for _, msg := range []string{"", "unknown peer", strings.Repeat("é", 1000)} {
		frame := encode(t, statusErr, msg)
		kind, body, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, 64)
		if err != nil || kind != statusErr {
			t.Fatalf("kind %d, err %v", kind, err)
		}
		got, err := decodeError(body)
		if err != nil || got != msg {
			t.Errorf("decoded %q, %v; want %q", got, err, msg)
		}
	}
}

// TestAppendEntriesDoNotShareABufferWithTheNext decodes two appends read
// into the same reused buffer: the first's entries must keep their data.
func TestAppendEntriesDoNotShareABufferWithTheNext(t *testing.T) {
	mk := func(b byte) *raft.AppendEntriesRequest {
		return &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Data: bytes.Repeat([]byte{b}, 100)}}}
	}
	frames := append(encode(t, typeAppendEntries, mk('a')), encode(t, typeAppendEntries, mk('b'))...)
	r := bufio.NewReader(bytes.NewReader(frames))
	var got []*raft.AppendEntriesRequest
	var buf []byte
	var hc headerCache
	for range 2 {
		var kind byte
		var body []byte
		var err error
		kind, body, buf, _, err = readFrame(r, buf, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := decodeRequest(kind, body, &hc, false)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cmd.(*raft.AppendEntriesRequest))
	}
	if !reflect.DeepEqual(got[0], mk('a')) || !reflect.DeepEqual(got[1], mk('b')) {
		t.Errorf("appends changed after decoding the next")
	}
}

func TestCorruptFramesAreRefused(t *testing.T) {
	good := encode(t, typeAppendEntries, requests()["append"])
	tests := map[string][]byte{
		"truncated body":   good[:len(good)-1],
		"truncated length": {typeAppendEntries, 0x80},
		"too long":         append([]byte{typeAppendEntries}, 0xff, 0xff, 0xff, 0xff, 0x7f),
	}
	for name, frame := range tests {
		_, _, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, 0)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if name != "too long" && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err %v, want unexpected EOF", name, err)
		}
	}
	// Bodies that do not decode.
	_, body, _, _, _ := readFrame(bufio.NewReader(bytes.NewReader(good)), nil, 0)
	bodies := map[string][]byte{
		"trailing byte":   append(append([]byte{}, body...), 0),
		"cut short":       body[:len(body)/2],
		"empty":           {},
		"bad bool":        {0, 0, 0, 3, 0, 0, 0, 7},
		"too many logs":   {0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0x03},
		"negative size":   {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		"out of range pv": {0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0},
	}
	types := map[string]byte{"bad bool": typeRequestVote, "negative size": typeInstallSnapshot, "out of range pv": typeTimeoutNow}
	for name, b := range bodies {
		typ := types[name]
		if typ == 0 {
			typ = typeAppendEntries
		}
		if _, err := decodeRequest(typ, b, &headerCache{}, false); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := decodeRequest(99, nil, &headerCache{}, false); err == nil {
		t.Errorf("unknown type decoded")
	}
}

// TestHugeLengthPrefixAllocatesLittle claims a frame near MaxFrame and sends
// a few bytes: reading it must fail without allocating the claimed size.
func TestHugeLengthPrefixAllocatesLittle(t *testing.T) {
	frame := []byte{typeAppendEntries, 0x80, 0x80, 0x80, 0x80, 0x04} // 1 GiB
	frame = append(frame, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), nil, 1<<10)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*allocStep {
		t.Errorf("allocated %d bytes for a frame of 100 bytes claiming 1 GiB", got)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, req := range requests() {
		typ, _ := requestType(req)
		f.Add(encode(f, typ, req))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r := bufio.NewReader(bytes.NewReader(frame))
		kind, body, _, owned, err := readFrame(r, nil, 256)
		if err != nil {
			return
		}
		cmd, err := decodeRequest(kind, body, &headerCache{}, owned)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		typ, err := requestType(cmd)
		if err != nil {
			t.Fatal(err)
		}
		again := encode(t, typ, cmd)
		if want := frame[:len(frame)-r.Buffered()]; !bytes.Equal(again, want) && canonical(want) {
			t.Errorf("re-encoded %x, read %x", again, want)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, resp := range responses() {
		f.Add(encode(f, statusOK, resp), byte(0))
	}
	f.Add(encode(f, statusErr, "boom"), byte(0))
	f.Fuzz(func(t *testing.T, frame []byte, which byte) {
		kind, body, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), make([]byte, 0, 64), 128)
		if err != nil {
			return
		}
		if kind == statusErr {
			_, _ = decodeError(body)
			return
		}
		resps := []any{&raft.AppendEntriesResponse{}, &raft.RequestVoteResponse{}, &raft.RequestPreVoteResponse{}, &raft.InstallSnapshotResponse{}, &raft.TimeoutNowResponse{}}
		_ = decodeResponse(body, resps[int(which)%len(resps)], &headerCache{})
	})
}

// canonical reports whether frame uses minimal varints throughout, which
// is all the encoder writes; a fuzzed frame may pad a varint and still
// decode, and then need not re-encode to the same bytes.
func canonical(frame []byte) bool {
	for i := 0; i+1 < len(frame); i++ {
		if frame[i]&0x80 != 0 && frame[i+1] == 0 {
			return false
		}
	}
	return true
}

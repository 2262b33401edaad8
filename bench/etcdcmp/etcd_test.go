package etcdcmp

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// etcdBin is the etcd binary: $PHANTOM_ETCD_BIN, else etcd on the PATH
// (Debian's etcd-server installs /usr/bin/etcd).
func etcdBin(tb testing.TB) string {
	tb.Helper()
	name := os.Getenv("PHANTOM_ETCD_BIN")
	if name == "" {
		name = "etcd"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("no etcd binary (%v): apt-get install etcd-server, or set PHANTOM_ETCD_BIN", err)
	}
	return bin
}

func envInt(tb testing.TB, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			tb.Fatalf("%s=%q is not a positive whole number", name, s)
		}
		return v
	}
	return def
}

func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	if s := os.Getenv(name); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			tb.Fatalf("%s=%q is not a positive duration (e.g. 10s)", name, s)
		}
		return v
	}
	return def
}

const (
	members   = 3
	keyspace  = 100_000
	valueSize = 128
)

// putLoad is one client's put against a random key of the keyspace.
type putLoad struct {
	kv    *KV
	value []byte
	cl    []putClient
}

type putClient struct {
	rng *rand.Rand
	key []byte
	buf []byte
}

func newPutLoad(kv *KV, clients int) *putLoad {
	l := &putLoad{kv: kv, value: make([]byte, valueSize), cl: make([]putClient, clients)}
	for i := range l.value {
		l.value[i] = byte('a' + i%26)
	}
	for c := range l.cl {
		l.cl[c] = putClient{rng: rand.New(rand.NewPCG(uint64(c), 42)), key: []byte("k0000000")}
	}
	return l
}

func (l *putLoad) op(ctx context.Context, c int) error {
	cl := &l.cl[c]
	n := cl.rng.IntN(keyspace)
	for i := len(cl.key) - 1; i > 0; i-- {
		cl.key[i] = byte('0' + n%10)
		n /= 10
	}
	_, err := l.kv.Put(ctx, c, cl.key, l.value, &cl.buf)
	return err
}

// BenchmarkEtcdPut is the comparison the issue asks for: a 3-member etcd 3.4
// on this machine, fsync off, 64 clients sharing one gRPC connection per
// member (client i on member i mod 3, so two in three puts are forwarded to
// the leader, as with etcd's benchmark tool given all endpoints;
// PHANTOM_ETCD_CONNS=N opens N connections instead, over the members in
// turn), 128-byte values on keys drawn from 100,000, closed loop, for
// PHANTOM_ETCD_DURATION (10s) after a 2 s warm-up. Run it once:
//
//	PHANTOM_ETCD=1 go test -run '^$' -bench EtcdPut -benchtime 1x ./bench/etcdcmp
func BenchmarkEtcdPut(b *testing.B) {
	if os.Getenv("PHANTOM_ETCD") != "1" {
		b.Skip("set PHANTOM_ETCD=1 to run the etcd comparison")
	}
	bin := etcdBin(b)
	clients := envInt(b, "PHANTOM_ETCD_CLIENTS", 64)
	conns := envInt(b, "PHANTOM_ETCD_CONNS", members)
	d := envDuration(b, "PHANTOM_ETCD_DURATION", 10*time.Second)
	c, err := StartEtcd(bin, b.TempDir(), members, 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	kv, err := DialKV(c.Endpoints, conns)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kv.Close)
	load := newPutLoad(kv, clients)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average before: %s", strings.TrimSpace(string(load)))
	}
	b.ResetTimer()
	var r Result
	for i := 0; i < b.N; i++ {
		r = Run(context.Background(), clients, 2*time.Second, d, load.op)
	}
	b.StopTimer()
	if r.Ops == 0 {
		b.Fatalf("no put completed: %d errors, first %v", r.Errors, r.FirstErr)
	}
	b.Logf("%d clients on %d connections, %v: %d puts (%.0f/s), %d errors (first: %v), avg %.0f µs, p50 %d µs, p99 %d µs, max %d µs",
		clients, conns, d, r.Ops, r.Rate(), r.Errors, r.FirstErr, r.Latency.Mean(), r.Latency.ValueAtQuantile(50), r.Latency.ValueAtQuantile(99), r.Latency.Max())
	b.ReportMetric(r.Rate(), "puts/s")
	b.ReportMetric(r.Latency.Mean(), "avg-µs")
	b.ReportMetric(float64(r.Latency.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(r.Errors), "errors")
}

// TestEtcdCluster starts the 3-member cluster, checks puts land and are
// counted, and that Close leaves no member process behind.
func TestEtcdCluster(t *testing.T) {
	bin := etcdBin(t)
	c, err := StartEtcd(bin, t.TempDir(), 3, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pids := c.PIDs()
	defer c.Close()
	kv, err := DialKV(c.Endpoints, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	var buf []byte
	var last int64
	for i := 0; i < 3; i++ { // once through each member
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rev, err := kv.Put(ctx, i, []byte("k"), []byte("v"), &buf)
		cancel()
		if err != nil {
			t.Fatalf("put through member %d: %v", i, err)
		}
		if rev <= last {
			t.Fatalf("revision %d after %d", rev, last)
		}
		last = rev
	}
	load := newPutLoad(kv, 4)
	r := Run(context.Background(), 4, 100*time.Millisecond, 500*time.Millisecond, load.op)
	t.Logf("4 clients, 0.5 s: %d puts, %.0f/s, p99 %d µs, %d errors", r.Ops, r.Rate(), r.Latency.ValueAtQuantile(99), r.Errors)
	if r.Ops == 0 || r.Errors != 0 || r.Latency.TotalCount() != r.Ops {
		t.Fatalf("load: %d ops, %d errors (%v), %d latencies", r.Ops, r.Errors, r.FirstErr, r.Latency.TotalCount())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("etcd member %d still running after Close", pid)
		}
	}
}

// TestRun checks the closed loop's counting against an op whose rate is
// known, and that failures are counted apart.
func TestRun(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	op := func(ctx context.Context, c int) error {
		time.Sleep(2 * time.Millisecond)
		if calls.Add(1)%4 == 0 {
			return boom
		}
		return nil
	}
	r := Run(context.Background(), 4, 50*time.Millisecond, 400*time.Millisecond, op)
	// At most 4 clients × 400 ms / 2 ms = 800 ops fit; a quarter fail.
	total := r.Ops + r.Errors
	t.Logf("%d ok, %d failed, %.0f/s, p50 %d µs", r.Ops, r.Errors, r.Rate(), r.Latency.ValueAtQuantile(50))
	if total == 0 || total > 800 || r.Errors == 0 || r.Ops < 2*r.Errors || !errors.Is(r.FirstErr, boom) {
		t.Fatalf("Run = %d ok, %d errors (%v)", r.Ops, r.Errors, r.FirstErr)
	}
	if r.Latency.TotalCount() != r.Ops || r.Latency.ValueAtQuantile(50) < 2000 {
		t.Fatalf("%d latencies for %d ops, p50 %d µs (each op sleeps 2 ms)", r.Latency.TotalCount(), r.Ops, r.Latency.ValueAtQuantile(50))
	}
	if calls.Load() <= total {
		t.Errorf("warm-up ops were counted: %d calls, %d counted", calls.Load(), total)
	}
}

func TestPutRevision(t *testing.T) {
	var header, resp []byte
	header = protowire.AppendTag(header, 1, protowire.VarintType)
	header = protowire.AppendVarint(header, 7)
	header = protowire.AppendTag(header, 3, protowire.VarintType)
	header = protowire.AppendVarint(header, 12345)
	resp = protowire.AppendTag(resp, 1, protowire.BytesType)
	resp = protowire.AppendBytes(resp, header)
	if rev, err := putRevision(resp); err != nil || rev != 12345 {
		t.Fatalf("putRevision = %d, %v; want 12345", rev, err)
	}
	for _, bad := range [][]byte{nil, {0xff}, resp[:len(resp)-1]} {
		if rev, err := putRevision(bad); err == nil {
			t.Errorf("putRevision(%x) = %d, want an error", bad, rev)
		}
	}
}

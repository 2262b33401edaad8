package etcdcmp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phantomdb/phantom/core"
	"github.com/phantomdb/phantom/node"
)

func TestMain(m *testing.M) {
	node.RunIfChild() // this test binary serves as the node processes
	os.Exit(m.Run())
}

// BenchmarkVersusEtcd runs the same closed loop — 64 clients, 128-byte
// puts on keys drawn from 100,000, a 2 s warm-up, then
// PHANTOM_ETCD_DURATION (10s) — against a 3-member etcd (fsync off), 3
// PhantomDB node processes and the embedded 3-node cluster, one after the
// other in one run, so that their ratios hold on a busy machine. The
// PhantomDB clusters have 3 shards, one led from each node, as a 3-member
// etcd has one leader taking every write. Run it once:
//
//	PHANTOM_ETCD=1 go test -run '^$' -bench VersusEtcd -benchtime 1x ./bench/etcdcmp
func BenchmarkVersusEtcd(b *testing.B) {
	if os.Getenv("PHANTOM_ETCD") != "1" {
		b.Skip("set PHANTOM_ETCD=1 to run the etcd comparison")
	}
	clients := envInt(b, "PHANTOM_ETCD_CLIENTS", 64)
	d := envDuration(b, "PHANTOM_ETCD_DURATION", 10*time.Second)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average before: %s", strings.TrimSpace(string(load)))
	}
	b.Run("etcd", func(b *testing.B) {
		c, err := StartEtcd(etcdBin(b), b.TempDir(), members, 30*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		kv, err := DialKV(c.Endpoints, members)
		if err != nil {
			b.Fatal(err)
		}
		defer kv.Close()
		runLoad(b, clients, d, newPutLoad(kv, clients).op)
	})
	for _, mode := range []string{"phantom-processes", "phantom-embedded"} {
		b.Run(mode, func(b *testing.B) {
			cfg := core.DefaultConfig()
			cfg.Nodes, cfg.Shards = members, members
			if mode == "phantom-processes" {
				p, err := node.NewProcesses(node.ProcessesConfig{LogDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				cfg.Launcher = p
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			c, err := core.NewCluster(ctx, cfg)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			runLoad(b, clients, d, newClusterLoad(c, clients).op)
		})
	}
}

// runLoad runs op's closed loop once per b.N and reports its figures.
func runLoad(b *testing.B, clients int, d time.Duration, op func(context.Context, int) error) {
	b.Helper()
	b.ResetTimer()
	var r Result
	for i := 0; i < b.N; i++ {
		r = Run(context.Background(), clients, 2*time.Second, d, op)
	}
	b.StopTimer()
	if r.Ops == 0 {
		b.Fatalf("no put completed: %d errors, first %v", r.Errors, r.FirstErr)
	}
	b.Logf("%d clients, %v: %d puts (%.0f/s), %d errors (first: %v), avg %.0f µs, p99 %d µs",
		clients, d, r.Ops, r.Rate(), r.Errors, r.FirstErr, r.Latency.Mean(), r.Latency.ValueAtQuantile(99))
	b.ReportMetric(r.Rate(), "puts/s")
	b.ReportMetric(r.Latency.Mean(), "avg-µs")
	b.ReportMetric(float64(r.Latency.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(r.Errors), "errors")
}

// clusterLoad is putLoad's counterpart on a PhantomDB cluster: the same
// keyspace and value size, keys drawn the same way.
type clusterLoad struct {
	c     *core.Cluster
	value []byte
	rngs  []*rand.Rand
	keys  []string
}

func newClusterLoad(c *core.Cluster, clients int) *clusterLoad {
	l := &clusterLoad{c: c, value: make([]byte, valueSize), rngs: make([]*rand.Rand, clients)}
	for i := range l.value {
		l.value[i] = byte('a' + i%26)
	}
	for i := range l.rngs {
		l.rngs[i] = rand.New(rand.NewPCG(uint64(i), 42))
	}
	// The keys made once, so the loop allocates no key per put.
	l.keys = make([]string, keyspace)
	for i := range l.keys {
		l.keys[i] = fmt.Sprintf("k%07s", strconv.Itoa(i))
	}
	return l
}

func (l *clusterLoad) op(ctx context.Context, c int) error {
	return l.c.Put(ctx, l.keys[l.rngs[c].IntN(keyspace)], l.value)
}

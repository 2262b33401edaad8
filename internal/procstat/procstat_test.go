package procstat

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/phantomdb/phantom/internal/cgroup"
)

// The test binary doubles as the child processes the tests sample.
const childEnv = "PHANTOM_PROCSTAT_TEST_CHILD"

const childMem = 32 << 20 // what the "hog" child keeps resident

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "hog":
		// Allocate and touch childMem, write 16 MiB to disk, say so, then burn a CPU.
		runtime.GOMAXPROCS(1)
		mem := make([]byte, childMem)
		for i := range mem {
			mem[i] = byte(i)
		}
		f, err := os.Create(os.Getenv("PHANTOM_PROCSTAT_FILE"))
		if err != nil {
			os.Exit(1)
		}
		_, _ = f.Write(mem[:16<<20])
		_ = f.Sync()
		_ = f.Close()
		fmt.Println("ready")
		for x := 0; ; x++ {
			mem[x%len(mem)]++
		}
	case "spin":
		runtime.GOMAXPROCS(1)
		for x := uint64(0); ; x++ {
			_ = x * x
		}
	case "idle":
		fmt.Println("ready")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func start(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "PHANTOM_PROCSTAT_FILE="+filepath.Join(t.TempDir(), "out"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("%s child: %q, %v", mode, buf, err)
	}
	return cmd
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOwnCPU burns CPU in this process and checks the sampled CPU time
// against getrusage's.
func TestOwnCPU(t *testing.T) {
	s := New()
	s.Track("self", os.Getpid())
	first := s.Sample()
	if len(first) != 1 || first[0].Err != "" || first[0].Interval != 0 || first[0].RSSBytes == 0 {
		t.Fatalf("first sample = %+v, want one with RSS and no rates yet", first)
	}
	r0 := cpuNow()
	stop := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(stop); x++ {
		_ = x * x
	}
	got := s.Sample()[0]
	used := (cpuNow() - r0).Seconds()
	sampled := got.CPUPercent / 100 * got.Interval.Seconds()
	t.Logf("sampled %.3f CPU-s (%.0f%% over %v), getrusage %.3f CPU-s", sampled, got.CPUPercent, got.Interval, used)
	if got.Interval <= 0 || sampled < used*0.8 || sampled > used*1.2+0.02 {
		t.Errorf("sampled %.3f CPU-s, getrusage says %.3f", sampled, used)
	}
}

// TestChildren samples a child that holds memory, wrote to disk and burns a
// CPU against one that sleeps, then one that has exited.
func TestChildren(t *testing.T) {
	hog, idle := start(t, "hog"), start(t, "idle")
	s := New()
	s.Track("hog", hog.Process.Pid)
	s.Track("idle", idle.Process.Pid)
	s.Sample()
	time.Sleep(400 * time.Millisecond)
	got := s.Sample()
	if len(got) != 2 || got[0].Node != "hog" || got[1].Node != "idle" {
		t.Fatalf("sample = %+v, want hog then idle", got)
	}
	h, i := got[0], got[1]
	t.Logf("hog: %.0f%% CPU, RSS %d MiB; idle: %.1f%% CPU, RSS %d MiB", h.CPUPercent, h.RSSBytes>>20, i.CPUPercent, i.RSSBytes>>20)
	if h.Err != "" || i.Err != "" {
		t.Fatalf("errors: %q, %q", h.Err, i.Err)
	}
	if h.RSSBytes < childMem || i.RSSBytes > h.RSSBytes/4 {
		t.Errorf("RSS hog %d, idle %d: want hog ≥ %d and idle far below", h.RSSBytes, i.RSSBytes, childMem)
	}
	if h.CPUPercent < 10*i.CPUPercent || h.CPUPercent <= 0 || h.CPUPercent > 100*float64(runtime.NumCPU())+5 {
		t.Errorf("CPU hog %.1f%%, idle %.1f%%: want the hog far busier, within the machine", h.CPUPercent, i.CPUPercent)
	}
	if h.HasNet || h.NetRecvBps != 0 {
		t.Errorf("network figures from a source that has none: %+v", h)
	}

	// The hog's 16 MiB write happened before its first sample: its total is
	// in the counters, not in the rate. A fresh Sampler's first sample shows
	// it through the rate from zero only if it wrongly treats the first
	// reading as a delta.
	s2 := New()
	s2.Track("hog", hog.Process.Pid)
	if w := s2.Sample()[0].WriteBps; w != 0 {
		t.Errorf("first sample has a write rate %v; it has no interval", w)
	}

	_ = idle.Process.Kill()
	_ = idle.Wait()
	got = s.Sample()
	if got[1].Err != ErrExited.Error() || got[1].RSSBytes != 0 {
		t.Errorf("exited process sampled as %+v", got[1])
	}
	s.Untrack("idle")
	if n := len(s.Sample()); n != 1 {
		t.Errorf("%d samples after Untrack, want 1", n)
	}
}

// TestQuota samples a busy-looping child under a 0.2-CPU quota.
func TestQuota(t *testing.T) {
	m, err := cgroup.Open()
	if errors.Is(err, cgroup.ErrUnavailable) {
		t.Skipf("no CPU quotas on this machine: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := m.NewGroup("spin", 0.2)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=spin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	s := New()
	s.TrackIn("spin", cmd.Process.Pid, g)
	s.Sample()
	time.Sleep(600 * time.Millisecond)
	r := s.Sample()[0]
	t.Logf("under 0.2 CPUs: %.1f%% CPU, throttled in %.0f%% of periods", r.CPUPercent, r.ThrottledPercent)
	if r.Err != "" || r.QuotaCPUs != 0.2 {
		t.Fatalf("sample %+v", r)
	}
	if r.ThrottledPercent < 50 || r.ThrottledPercent > 100 {
		t.Errorf("a spinner under 0.2 CPUs throttled in %.0f%% of periods, want most", r.ThrottledPercent)
	}
	if r.CPUPercent > 30 {
		t.Errorf("a spinner under 0.2 CPUs sampled at %.1f%% CPU", r.CPUPercent)
	}
}

// TestDiskWrites writes in this process between two samples and checks the
// write rate covers it.
func TestDiskWrites(t *testing.T) {
	dir := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil && fs.Type == 0x01021994 {
		t.Skipf("%s is on tmpfs, whose writes never reach the storage layer write_bytes counts", dir)
	}
	s := New()
	s.Track("self", os.Getpid())
	s.Sample()
	f, err := os.Create(filepath.Join(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8 << 20
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := s.Sample()[0]
	written := r.WriteBps * r.Interval.Seconds()
	t.Logf("wrote %d bytes; sampled %.0f bytes (%.0f B/s over %v)", n, written, r.WriteBps, r.Interval)
	if written < n*0.9 {
		t.Errorf("sampled %.0f bytes written, want at least 90%% of %d", written, n)
	}
}

// BenchmarkSample measures one Sample of 8 tracked processes; ns/pid is the
// cost per process per tick.
func BenchmarkSample(b *testing.B) {
	const pids = 8
	s := New()
	for i := 0; i < pids; i++ {
		s.Track(fmt.Sprintf("n%d", i), os.Getpid())
	}
	s.Sample()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Sample()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/pids, "ns/pid")
}

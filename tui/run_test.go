package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// started is a model on the dashboard whose runner is running: the run
// command executes in a goroutine, as bubbletea would run it, and its
// message arrives on the returned channel.
func started(t *testing.T, f *fakeRunner) (model, <-chan tea.Msg) {
	t.Helper()
	m := testModel(t, f, 80, 24)
	next, cmd := m.Update(keyMsg("enter"))
	m = next.(model)
	batch, ok := cmd().(tea.BatchMsg)
	if !ok || len(batch) != 2 {
		t.Fatalf("enter should batch the run and the first tick, got %T", cmd())
	}
	msgs := make(chan tea.Msg, 1)
	go func() { msgs <- batch[0]() }()
	select {
	case <-f.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the run command did not call Run")
	}
	return m, msgs
}

func receive(t *testing.T, msgs <-chan tea.Msg) tea.Msg {
	t.Helper()
	select {
	case msg := <-msgs:
		return msg
	case <-time.After(5 * time.Second):
		t.Fatal("the runner did not return")
		return nil
	}
}

func TestQuitWhileRunningStopsFirst(t *testing.T) {
	for _, how := range []tea.Msg{keyMsg("q"), keyMsg("ctrl+c"), signalMsg{sig: syscall.SIGTERM}, signalMsg{sig: os.Interrupt}} {
		f := newFakeRunner(fixture())
		m, msgs := started(t, f)
		next, cmd := m.Update(how)
		m = next.(model)
		if isQuit(cmd) {
			t.Fatalf("%v quit before the run stopped", how)
		}
		if !m.stopping || !strings.Contains(m.View(), "STOPPING…") || !strings.Contains(m.View(), "stopping…") {
			t.Errorf("%v: no stopping state on screen:\n%s", how, m.View())
		}
		done := receive(t, msgs).(runDoneMsg)
		if !f.cancelled.Load() || !done.report.Interrupted {
			t.Errorf("%v did not cancel the run", how)
		}
		if _, cmd = m.Update(done); !isQuit(cmd) {
			t.Errorf("%v: no quit once the runner returned", how)
		}
		report, err := m.sess.settle(time.Second, nil, io.Discard)
		if err != nil || report != f.report {
			t.Errorf("settle: report %p (want %p), err %v", report, f.report, err)
		}
	}
}

func TestQuitTwiceLeavesAtOnce(t *testing.T) {
	f := newFakeRunner(fixture())
	f.ignoreCtx = true // a runner slow to stop
	m, msgs := started(t, f)
	m = press(t, m, "q")
	if _, cmd := m.Update(keyMsg("q")); !isQuit(cmd) {
		t.Fatal("a second q did not quit")
	}
	// Run then waits for the runner, within its bound.
	if _, err := m.sess.settle(20*time.Millisecond, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "did not stop within") {
		t.Errorf("settle on a stuck runner: %v", err)
	}
	close(f.release)
	receive(t, msgs)
	if report, err := m.sess.settle(time.Second, nil, io.Discard); err != nil || report == nil {
		t.Errorf("settle after the runner returned: %v, %v", report, err)
	}
}

func TestSettleGivesUpOnSecondSignal(t *testing.T) {
	f := newFakeRunner(fixture())
	f.ignoreCtx = true
	m, msgs := started(t, f)
	abort := make(chan os.Signal, 1)
	abort <- os.Interrupt
	var note bytes.Buffer
	if _, err := m.sess.settle(time.Minute, abort, &note); err == nil || !strings.Contains(err.Error(), "interrupted again") {
		t.Errorf("settle: %v", err)
	}
	if !strings.Contains(note.String(), "stopping the run") {
		t.Errorf("no note while waiting: %q", note.String())
	}
	close(f.release)
	receive(t, msgs)
}

func TestSettleBeforeAnyRun(t *testing.T) {
	m := testModel(t, newFakeRunner(fixture()), 80, 24)
	if report, err := m.sess.settle(time.Second, nil, io.Discard); report != nil || err != nil {
		t.Errorf("no run: got %v, %v", report, err)
	}
}

func TestSettleRunNeverStarted(t *testing.T) {
	// The program died before bubbletea ran the command: settle must not
	// wait for it, and the command must not start the run afterwards.
	f := newFakeRunner(fixture())
	m := testModel(t, f, 80, 24)
	next, cmd := m.Update(keyMsg("enter"))
	m = next.(model)
	if report, err := m.sess.settle(time.Minute, nil, io.Discard); report != nil || err != nil {
		t.Errorf("got %v, %v", report, err)
	}
	batch := cmd().(tea.BatchMsg)
	if msg := batch[0](); msg != nil {
		t.Errorf("an abandoned run started: %v", msg)
	}
	select {
	case <-f.started:
		t.Error("Run was called")
	default:
	}
}

func TestRunErrorIsReturned(t *testing.T) {
	f := newFakeRunner(fixture())
	f.err = errors.New("run failed: the cluster did not start")
	m, msgs := started(t, f)
	close(f.release)
	m = update(t, m, receive(t, msgs))
	if _, err := m.sess.settle(time.Second, nil, io.Discard); !errors.Is(err, f.err) {
		t.Errorf("settle: %v, want the run's error", err)
	}
	if !strings.Contains(m.View(), "FAILED: run failed: the cluster did not start") {
		t.Errorf("failure not on screen:\n%s", m.View())
	}
}

func TestTicks(t *testing.T) {
	f := newFakeRunner(&metrics.Snapshot{Phase: metrics.PhaseStarting})
	m := press(t, testModel(t, f, 80, 24), "enter")
	f.snap.Store(fixture())

	// A stale tick (from an earlier run) neither redraws nor re-arms.
	next, cmd := m.Update(tickMsg{id: m.tickID - 1})
	if cmd != nil || strings.Contains(next.(model).View(), "consensus.submit") {
		t.Error("a stale tick was handled")
	}
	// The current one reads the latest snapshot and re-arms.
	next, cmd = m.Update(tickMsg{id: m.tickID})
	m = next.(model)
	if cmd == nil {
		t.Error("the tick was not re-armed")
	}
	if !strings.Contains(m.View(), "consensus.submit") {
		t.Error("the tick did not read the latest snapshot")
	}
	// A done snapshot shows the summary.
	done := *fixture()
	done.Phase = metrics.PhaseDone
	f.snap.Store(&done)
	m = update(t, m, tickMsg{id: m.tickID})
	if m.screen != screenSummary {
		t.Errorf("screen %v on a done snapshot, want the summary", m.screen)
	}
	// Once the runner has returned, ticks stop.
	id := m.tickID
	m = update(t, m, runDoneMsg{id: m.run.id, report: &metrics.Report{}})
	if _, cmd := m.Update(tickMsg{id: id}); cmd != nil {
		t.Error("ticking after the run ended")
	}
}

func TestRunAgain(t *testing.T) {
	f := newFakeRunner(fixture())
	m, msgs := started(t, f)
	close(f.release)
	msg := receive(t, msgs)
	// The done snapshot shows the summary before the runner's message
	// arrives; r waits for the runner.
	m = update(t, m, tickMsg{id: m.tickID})
	if m.screen != screenSummary {
		t.Fatalf("screen %v on a done snapshot, want the summary", m.screen)
	}
	if m = press(t, m, "r"); m.screen != screenSummary {
		t.Fatal("r went back to setup before the runner returned")
	}
	m = update(t, m, msg)
	first := m.run
	m = press(t, m, "r")
	if m.screen != screenSetup || !strings.Contains(m.View(), "TUNING") {
		t.Fatalf("r did not return to setup:\n%s", m.View())
	}
	// A runDone from the old run no longer matters; q quits from setup.
	if _, cmd := m.Update(keyMsg("q")); !isQuit(cmd) {
		t.Error("q on setup after a run did not quit")
	}
	// Settings are kept, and enter starts a second run.
	f.snap.Store(fixture())
	m = press(t, m, "down", "down", "down", "down", "right", "enter")
	if m.screen != screenDashboard || m.run == first || m.run.id != first.id+1 {
		t.Fatalf("second run: screen %v, run %+v", m.screen, m.run)
	}
	if m.config().Nodes != 4 {
		t.Errorf("nodes %d after one step up from 3", m.config().Nodes)
	}
	if strings.Contains(m.View(), "RESULT") {
		t.Error("the old run's summary leaked into the new dashboard")
	}
	m.run.cancel()
}

// TestProgram drives the whole program as bubbletea runs it: setup, start,
// the live dashboard, q, and the program ends once the runner returns.
func TestProgram(t *testing.T) {
	f := newFakeRunner(fixture())
	m := newModel(suites.DefaultConfig(), fakeDeps(f))
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("TUNING")) },
		teatest.WithDuration(5*time.Second))
	tm.Send(keyMsg("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("consensus.submit")) },
		teatest.WithDuration(5*time.Second))
	tm.Send(keyMsg("q"))
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(model)
	if !f.cancelled.Load() || !final.finished {
		t.Errorf("the program ended before the run stopped (cancelled %v, finished %v)", f.cancelled.Load(), final.finished)
	}
	if report, err := final.sess.settle(time.Second, nil, io.Discard); err != nil || report == nil || !report.Interrupted {
		t.Errorf("report %+v, err %v: want the interrupted run's report", report, err)
	}
}

type panicky struct{ fakeRunner }

func (*panicky) Run(context.Context) (*metrics.Report, error) { panic("boom") }

// TestRunnerPanic: bubbletea recovers a panic in a command and restores
// the terminal; the launch must still count as over, so Run does not wait
// out its bound for a runner that is gone.
func TestRunnerPanic(t *testing.T) {
	s := &session{}
	ctx, cancel := context.WithCancel(context.Background())
	l := s.newLaunch(&panicky{}, cancel)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed before bubbletea could see it")
			}
		}()
		l.start(ctx)()
	}()
	begin := time.Now()
	if report, err := s.settle(time.Minute, nil, io.Discard); report != nil || err != nil || time.Since(begin) > time.Second {
		t.Errorf("settle after a panic: %v, %v after %v", report, err, time.Since(begin))
	}
}

// TestProgramLiveControl drives a run as a user would through the whole
// program: retune clients, kill a leader, pause, open and close help,
// resize the window, save the settings, then quit. Every action reaches
// the runner and the screen answers each key.
func TestProgramLiveControl(t *testing.T) {
	f := newFakeRunner(fixture())
	d := fakeDeps(f)
	saved := make(chan string, 1)
	d.save = func(name string, cfg suites.Config) (string, error) {
		saved <- name
		return "/p/" + name + ".toml", nil
	}
	tm := teatest.NewTestModel(t, newModel(suites.DefaultConfig(), d), teatest.WithInitialTermSize(80, 24))
	see := func(what string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	see("TUNING")
	tm.Send(keyMsg("enter"))
	see("consensus.submit")
	tm.Send(keyMsg("tab"))
	tm.Send(keyMsg("right"))
	tm.Send(keyMsg("right"))
	see("32…") // pending until it settles, then applied as one action
	see("✓ clients=32")
	tm.Send(keyMsg("k"))
	see("✓ kill-leader")
	tm.Send(keyMsg("space"))
	see("✓ pause")
	tm.Send(keyMsg("?"))
	see("restart crashed nodes")
	tm.Send(keyMsg("esc"))
	tm.Send(sizeMsg(120, 40))
	see("nodes   n1★2") // the cluster panel's node line needs 40 lines
	tm.Send(keyMsg("s"))
	see("save these settings")
	tm.Send(keyMsg("enter"))
	select {
	case name := <-saved:
		if name != "custom-tuned" {
			t.Errorf("saved as %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the profile was not saved")
	}
	see("saved profile custom-tuned")
	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if got := verbs(f.Actions()); got != "clients=32 kill-leader pause" {
		t.Errorf("actions %q", got)
	}
}

// A signal repeated at once is one signal (the terminal's and the
// supervisor's copies of one Ctrl-C); repeated later, it is two.
func TestTwinSignals(t *testing.T) {
	in := make(chan os.Signal, 4)
	done := make(chan struct{})
	defer close(done)
	out := twins(in, 200*time.Millisecond, done)
	in <- syscall.SIGINT
	in <- syscall.SIGINT
	in <- syscall.SIGTERM // another signal is never a twin
	for _, want := range []os.Signal{syscall.SIGINT, syscall.SIGTERM} {
		select {
		case got := <-out:
			if got != want {
				t.Fatalf("got %v, want %v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %v", want)
		}
	}
	time.Sleep(300 * time.Millisecond)
	in <- syscall.SIGTERM
	select {
	case got := <-out:
		if got != syscall.SIGTERM {
			t.Fatalf("got %v after the window", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a later signal was dropped")
	}
	select {
	case got := <-out:
		t.Errorf("the twin came through: %v", got)
	default:
	}
}

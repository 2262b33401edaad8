package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/profiles/knob"
	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// runner is what the TUI needs of suites.Runner; tests give it a fake.
type runner interface {
	// Run blocks for the whole run and returns when it is done or ctx ends.
	Run(ctx context.Context) (*metrics.Report, error)
	// Latest is the newest snapshot: immutable, never nil, cheap.
	Latest() *metrics.Snapshot
	// Control applies a live change or fault to the running suite.
	Control(ctx context.Context, a knob.Action) error
	// Report is the run so far, for an export while it goes on.
	Report() *metrics.Report
}

// newRunner makes the real runner.
func newRunner(cfg suites.Config) (runner, error) {
	r, err := suites.New(cfg)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return r, nil
}

// Launch states: a launch's command may be dropped by bubbletea when the
// program dies before running it, so whoever gets there first claims it.
const (
	launchPending int32 = iota
	launchRunning
	launchAbandoned
)

// launch is one run: its runner, the way to cancel it, and its result.
// The runner's Run call lives in a tea.Cmd, so bubbletea's panic recovery
// covers it and restores the terminal; the result travels back as a
// runDoneMsg, and through done to Run's caller when the program is gone.
type launch struct {
	id     int
	runner runner
	cancel context.CancelFunc
	state  atomic.Int32
	done   chan struct{} // closed when runner.Run has returned, or panicked

	// Written before done is closed; read only after.
	report *metrics.Report
	err    error
}

// runDoneMsg says the runner of launch id has returned.
type runDoneMsg struct {
	id     int
	report *metrics.Report
	err    error
}

// start returns the command that runs the runner until ctx ends.
func (l *launch) start(ctx context.Context) tea.Cmd {
	return func() tea.Msg {
		if !l.state.CompareAndSwap(launchPending, launchRunning) {
			return nil // the program ended before the run began
		}
		defer close(l.done)
		l.report, l.err = l.runner.Run(ctx)
		return runDoneMsg{id: l.id, report: l.report, err: l.err}
	}
}

// session is shared by every copy of the model and outlives the program:
// Run reads the last launch from it after the program has exited, however
// it exited (a panic leaves no final model to ask).
type session struct {
	last  *launch
	count int
}

func (s *session) newLaunch(r runner, cancel context.CancelFunc) *launch {
	s.count++
	l := &launch{id: s.count, runner: r, cancel: cancel, done: make(chan struct{})}
	s.last = l
	return l
}

// stopTimeout bounds how long Run waits for a cancelled run to shut its
// cluster down once the program has exited.
const stopTimeout = 15 * time.Second

// settle cancels the last run if it is still going and waits, at most
// timeout, for its runner to return; a value on abort gives up waiting.
// It returns the last run's report, nil when no run began.
func (s *session) settle(timeout time.Duration, abort <-chan os.Signal, note io.Writer) (*metrics.Report, error) {
	l := s.last
	if l == nil {
		return nil, nil
	}
	l.cancel()
	if l.state.CompareAndSwap(launchPending, launchAbandoned) {
		return nil, nil
	}
	select {
	case <-l.done:
		return l.report, l.err
	default:
	}
	fmt.Fprintln(note, "phantom: stopping the run and shutting the cluster down…")
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.done:
		return l.report, l.err
	case <-t.C:
		return nil, fmt.Errorf("the run did not stop within %v of being cancelled; the cluster may not have shut down cleanly", timeout)
	case <-abort:
		return nil, errors.New("interrupted again while the run was stopping; the cluster may not have shut down cleanly")
	}
}

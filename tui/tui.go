// Package tui is phantom's terminal UI: a setup screen to pick suites and
// tune the run, a live dashboard fed by the runner's snapshots, a summary
// at the end, and a help overlay.
//
// The screen redraws on its own tick (about ten frames a second) from
// Runner.Latest; the runner never messages the UI, however fast ops run.
package tui

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/phantomdb/phantom/suites"
	"github.com/phantomdb/phantom/suites/metrics"
)

// Run shows the TUI in the terminal's alternate screen, starting on the
// setup screen with cfg's settings, and returns when the user quits. It
// returns the report of the last run, or nil when none was started, so the
// caller can print a summary once the terminal is restored.
//
// The error is non-nil when the terminal UI itself failed, or when the last
// run failed (then it wraps suites.ErrRunFailed and the report, partial,
// is still returned).
//
// Run never returns while a run is still going: quitting cancels the run
// and waits for the runner to stop the cluster. SIGINT and SIGTERM do the
// same as q; a second one, or a runner that takes longer than a bound to
// stop, makes Run give up waiting and say so in the error.
func Run(cfg suites.Config) (*metrics.Report, error) {
	m := newModel(cfg, defaultDeps())
	// bubbletea's own handler turns the first SIGINT or SIGTERM into an
	// immediate quit and then stops listening, so a second signal would
	// kill the process with the cluster half shut down. Ours forwards every
	// signal to the model, which stops the run first.
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithoutSignalHandler())
	raw := make(chan os.Signal, 4)
	signal.Notify(raw, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(raw)
	done := make(chan struct{})
	defer close(done)
	sigs := twins(raw, twinWindow, done)

	quit := make(chan struct{})
	var forwarding sync.WaitGroup
	forwarding.Add(1)
	go func() {
		defer forwarding.Done()
		for {
			select {
			case s := <-sigs:
				p.Send(signalMsg{sig: s}) // a no-op once the program has ended
			case <-quit:
				return
			}
		}
	}()

	_, uiErr := p.Run()
	close(quit)
	forwarding.Wait()
	if uiErr != nil {
		uiErr = fmt.Errorf("the terminal UI failed: %w", uiErr)
	}
	report, runErr := m.sess.settle(stopTimeout, sigs, os.Stderr)
	return report, errors.Join(uiErr, runErr)
}

// twinWindow is how close a repeated signal must follow the one before to
// be the same one twice.
const twinWindow = 250 * time.Millisecond

// twins passes on the signals from in, but drops one that repeats the one
// before within window: when the terminal is not raw, Ctrl-C reaches
// phantom's whole process group, and the TUI gets it from the terminal and
// again from its supervisor, which forwards the signals sent to it. Two
// presses of Ctrl-C further apart than window stay two. It stops when done
// is closed.
func twins(in <-chan os.Signal, window time.Duration, done <-chan struct{}) <-chan os.Signal {
	out := make(chan os.Signal, 4)
	go func() {
		var last os.Signal
		var at time.Time
		for {
			select {
			case s := <-in:
				now := time.Now()
				if s == last && now.Sub(at) < window {
					continue
				}
				last, at = s, now
				select {
				case out <- s:
				default: // four waiting already: one more says nothing new
				}
			case <-done:
				return
			}
		}
	}()
	return out
}

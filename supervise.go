package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
)

// The terminal UI runs in a child process watched by this one. bubbletea
// restores the terminal after a panic in its own goroutines, but a panic in
// any other goroutine — raft's, a core node's — ends the process at once,
// leaving the terminal raw and in the alternate screen. The parent saved
// the terminal's state before the child began and puts it back when the
// child dies that way, then shows the child's last words.

// envTUIChild marks the process that draws the TUI under a supervisor.
const envTUIChild = "PHANTOM_TUI_CHILD"

// envCrashTest makes the TUI child panic in a goroutine of its own a moment
// after it starts: the end-to-end test's way to check the supervisor.
const envCrashTest = "PHANTOM_CRASH_TEST"

// resetTerminal leaves the alternate screen, shows the cursor, turns off
// mouse reporting and bracketed paste, and resets colours: everything a
// bubbletea program may have left on.
const resetTerminal = "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[0m\r\n"

// stderrKeep is how much of the child's stderr the supervisor keeps to
// show again after a crash: the tail, where a panic's trace ends.
const stderrKeep = 256 << 10

// superviseTUI runs the TUI in a child process, phantom again with args,
// and returns its exit code.
// ok is false when the child cannot be started (no executable path, the
// terminal's state unreadable); the caller then runs the TUI itself.
func superviseTUI(tty *os.File, args []string, stdout io.Writer, stderr io.Writer) (code int, ok bool) {
	exe, err := os.Executable()
	if err != nil {
		return 0, false
	}
	saved, err := term.GetState(tty.Fd())
	if err != nil {
		return 0, false
	}
	child := exec.Command(exe, args...)
	child.Env = append(os.Environ(), envTUIChild+"=1")
	child.Stdin, child.Stdout = os.Stdin, stdout
	// The child's stderr goes on to ours as it comes ("stopping the run…"
	// must show while the cluster shuts down); the tail is kept too, for
	// a panic's trace, which the alternate screen would swallow.
	tail := &tailBuffer{out: stderr, max: stderrKeep}
	child.Stderr = tail

	// Signals sent to this process are passed on. When the terminal is not
	// raw, its Ctrl-C reaches the child directly as well; the child takes
	// a twin arriving at once as one (tui.Run).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := child.Start(); err != nil {
		return 0, false
	}
	var fwd sync.WaitGroup
	done := make(chan struct{})
	fwd.Add(1)
	go func() {
		defer fwd.Done()
		for {
			select {
			case s := <-sigs:
				child.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = child.Wait()
	close(done)
	fwd.Wait()

	code = child.ProcessState.ExitCode()
	var exit *exec.ExitError
	crashed := errors.As(err, &exit) && (code < 0 || code == 2 && bytes.Contains(tail.Bytes(), []byte("\ngoroutine ")))
	if crashed {
		term.SetState(tty.Fd(), saved)
		io.WriteString(tty, resetTerminal)
	}
	if crashed {
		stderr.Write(tail.Bytes())
		fmt.Fprintf(stderr, "phantom: the terminal UI crashed (%v); the terminal has been restored\n", child.ProcessState)
		return exitRunFailed, true
	}
	return code, true
}

// crashTest panics in a goroutine the TUI does not own, after a moment.
func crashTest() {
	if os.Getenv(envCrashTest) == "" {
		return
	}
	go func() {
		time.Sleep(1500 * time.Millisecond)
		panic("phantom crash test: a panic outside the UI's goroutines")
	}()
}

// tailBuffer writes on to out and keeps the last max bytes written.
type tailBuffer struct {
	out io.Writer
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.out.Write(p) // a stderr that fails must not stop the child
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

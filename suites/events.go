package suites

import (
	"sync"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// eventLog is the run's events in the order they happened. The runner's
// goroutine appends to it and publishes it; background changes, which run
// on goroutines of their own, queue theirs with later, and the next tick
// moves them in, stamped with its time.
type eventLog struct {
	// events is appended to only, by the runner's goroutine, so a
	// snapshot may share its backing array: later appends write past the
	// snapshot's length.
	events []metrics.Event

	mu      sync.Mutex
	pending []metrics.Event // queued by background goroutines, for the next tick
}

// add records events that happened now; runner's goroutine only.
func (l *eventLog) add(es ...metrics.Event) { l.events = append(l.events, es...) }

// later queues an event for the next tick; any goroutine may call it.
func (l *eventLog) later(kind metrics.EventKind, msg string) {
	l.mu.Lock()
	l.pending = append(l.pending, metrics.Event{Kind: kind, Message: msg})
	l.mu.Unlock()
}

// flush moves the queued events in, stamped at; runner's goroutine only.
func (l *eventLog) flush(at time.Duration) {
	l.mu.Lock()
	for _, e := range l.pending {
		e.At = at
		l.events = append(l.events, e)
	}
	l.pending = l.pending[:0]
	l.mu.Unlock()
}

// view is the events so far, for a snapshot: capped, so that no append
// reaches what the snapshot holds.
func (l *eventLog) view() []metrics.Event { return l.events[:len(l.events):len(l.events)] }

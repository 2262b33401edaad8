package suites

import (
	"sync"
	"testing"
	"time"

	"github.com/phantomdb/phantom/suites/metrics"
)

// Events queued from background goroutines appear at the next flush,
// stamped with its time, after the events already recorded; a view taken
// before is not written to by later events.
func TestEventLogQueuesBackgroundEventsForTheNextTick(t *testing.T) {
	var l eventLog
	l.add(metrics.Event{At: time.Second, Kind: metrics.EventInfo, Message: "before"})
	before := l.view()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); l.later(metrics.EventFault, "from the background") }()
	}
	wg.Wait()
	if got := l.view(); len(got) != 1 {
		t.Fatalf("queued events showed before the tick: %+v", got)
	}
	l.flush(2 * time.Second)
	got := l.view()
	if len(got) != 5 || got[0].Message != "before" {
		t.Fatalf("after the tick: %+v, want the first event and then four queued", got)
	}
	for _, e := range got[1:] {
		if e.At != 2*time.Second || e.Kind != metrics.EventFault {
			t.Errorf("queued event %+v, want a fault stamped at the tick, 2s", e)
		}
	}
	l.flush(3 * time.Second)
	if n := len(l.view()); n != 5 {
		t.Errorf("a second tick moved %d events in again", n-5)
	}
	if len(before) != 1 || cap(before) != 1 {
		t.Errorf("an earlier view grew to %d (cap %d)", len(before), cap(before))
	}
}

package metrics

import "time"

// base anchors Stamp: time.Since on a time.Time that carries a monotonic
// reading costs one clock read, where time.Now costs two (wall and
// monotonic) — on a VM whose clock reads are slow, the difference is most
// of the cost of timing an operation.
var base = time.Now()

// Stamp is a point on the monotonic clock, for timing operations cheaply.
type Stamp time.Duration

// Now reads the monotonic clock.
func Now() Stamp { return Stamp(time.Since(base)) }

// Elapsed is the time since s.
func (s Stamp) Elapsed() time.Duration { return time.Duration(Now() - s) }

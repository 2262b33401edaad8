package netsim

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// shaper delays one connection's writes. It exists only once shaping is on,
// and its goroutine releases the writes in order, each at its due time.
type shaper struct {
	conn net.Conn

	mu      sync.Mutex
	queue   []pendingWrite
	last    time.Time // due time of the latest write queued
	err     error     // the socket's write error, returned to later writes
	stopped bool

	wake chan struct{} // capacity 1
	stop chan struct{}
}

type pendingWrite struct {
	due  time.Time
	data []byte
}

func startShaper(nw *Network, conn net.Conn) *shaper {
	sh := &shaper{conn: conn, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	nw.writers.Add(1)
	go func() {
		defer nw.writers.Done()
		sh.run()
	}()
	return sh
}

// enqueue copies p, since the caller may reuse it once Write returns.
func (sh *shaper) enqueue(p []byte, l Link) (int, error) {
	now := time.Now()
	due := now.Add(l.Delay)
	if l.Jitter > 0 {
		due = due.Add(rand.N(l.Jitter + 1))
	}
	if l.Loss > 0 && rand.Float64() < l.Loss {
		due = due.Add(max(minRetransmit, 2*(l.Delay+l.Jitter)))
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.err != nil {
		return 0, sh.err
	}
	if sh.stopped {
		return 0, net.ErrClosed
	}
	if due.Before(sh.last) {
		due = sh.last
	}
	sh.last = due
	sh.queue = append(sh.queue, pendingWrite{due: due, data: append([]byte(nil), p...)})
	select {
	case sh.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (sh *shaper) run() {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		sh.mu.Lock()
		if len(sh.queue) == 0 {
			sh.mu.Unlock()
			select {
			case <-sh.wake:
				continue
			case <-sh.stop:
				return
			}
		}
		head := sh.queue[0]
		if wait := time.Until(head.due); wait > 0 {
			sh.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-sh.stop:
				return
			}
			continue
		}
		sh.queue[0] = pendingWrite{}
		sh.queue = sh.queue[1:]
		sh.mu.Unlock()
		if _, err := sh.conn.Write(head.data); err != nil {
			sh.mu.Lock()
			sh.err = err
			sh.queue = nil
			sh.mu.Unlock()
			_ = sh.conn.Close()
			return
		}
	}
}

// close ends the goroutine; writes still queued are lost, as they would be
// when a connection is cut.
func (sh *shaper) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.stopped {
		sh.stopped = true
		close(sh.stop)
	}
}

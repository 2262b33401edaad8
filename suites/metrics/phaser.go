package metrics

import (
	"math"
	"runtime"
	"sync/atomic"
)

// phaser is a writer-reader phaser (after Gil Tene's WriterReaderPhaser in
// HdrHistogram): writers pay two uncontended atomic adds to mark a critical
// section, and the single reader can wait until every writer that might still
// touch the buffer it just swapped out has left. It lets a worker record into
// a plain, non-atomic histogram without a lock while a collector harvests it.
//
// Writers call enter and exit around each write; the reader swaps the active
// buffer first and then calls flip. Only one goroutine may call flip at a time.
type phaser struct {
	start   atomic.Int64
	evenEnd atomic.Int64
	oddEnd  atomic.Int64
}

func newPhaser() *phaser {
	p := &phaser{}
	p.oddEnd.Store(math.MinInt64)
	return p
}

// enter marks the start of a write and returns the value exit needs.
func (p *phaser) enter() int64 { return p.start.Add(1) - 1 }

// exit marks the end of the write begun by the matching enter.
func (p *phaser) exit(v int64) {
	if v < 0 {
		p.oddEnd.Add(1)
	} else {
		p.evenEnd.Add(1)
	}
}

// flip moves writers to the next phase and waits until every writer that
// entered in the previous phase has exited. Writes take nanoseconds, so the
// wait is a short spin that yields the processor.
func (p *phaser) flip() {
	nextEven := p.start.Load() < 0
	var initial int64
	if nextEven {
		initial = 0
		p.evenEnd.Store(0)
	} else {
		initial = math.MinInt64
		p.oddEnd.Store(math.MinInt64)
	}
	atFlip := p.start.Swap(initial)
	end := &p.evenEnd
	if nextEven {
		end = &p.oddEnd
	}
	for end.Load() != atFlip {
		runtime.Gosched()
	}
}

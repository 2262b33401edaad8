package node

import (
	"slices"
	"sync"

	"github.com/phantomdb/phantom/core"
)

// exitLog is what both launchers keep of their nodes' exits on their own,
// for core's ExitWatcher: each exit in order, and whom to tell. Each
// launcher decides under its own lock whether an exit is one on its own
// (not one it caused, of a process the node still runs on), then hands it
// to tell.
type exitLog struct {
	xmu    sync.Mutex
	exits  []core.NodeExit
	onExit func(core.NodeExit, core.NodeConn)
}

// OnExit has f told of every exit on its own, on the goroutine that saw
// it; f must not block.
func (l *exitLog) OnExit(f func(core.NodeExit, core.NodeConn)) {
	l.xmu.Lock()
	l.onExit = f
	l.xmu.Unlock()
}

// Exits lists the exits on their own so far, in order.
func (l *exitLog) Exits() []core.NodeExit {
	l.xmu.Lock()
	defer l.xmu.Unlock()
	return slices.Clone(l.exits)
}

// tell records e, the exit of the process conn led to, and tells of it.
func (l *exitLog) tell(e core.NodeExit, conn core.NodeConn) {
	l.xmu.Lock()
	l.exits = append(l.exits, e)
	f := l.onExit
	l.xmu.Unlock()
	if f != nil {
		f(e, conn)
	}
}

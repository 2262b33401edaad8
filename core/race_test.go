//go:build race

package core

// raceEnabled says the tests run under the race detector, which makes
// every raft RPC several times dearer.
const raceEnabled = true

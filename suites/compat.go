package suites

import "github.com/phantomdb/phantom/profiles/knob"

// The live actions and the knobs' limits are defined in package knob.
// These aliases exist only until the TUI moves to knob; new code should
// name knob's declarations directly.
type (
	Action      = knob.Action
	TimedAction = knob.TimedAction
)

const (
	VerbClients    = knob.VerbClients
	VerbNodes      = knob.VerbNodes
	VerbDataSize   = knob.VerbDataSize
	VerbRate       = knob.VerbRate
	VerbNetDelay   = knob.VerbNetDelay
	VerbDuration   = knob.VerbDuration
	VerbKillLeader = knob.VerbKillLeader
	VerbCrash      = knob.VerbCrash
	VerbRestart    = knob.VerbRestart
	VerbPartition  = knob.VerbPartition
	VerbHeal       = knob.VerbHeal
	VerbPause      = knob.VerbPause
	VerbResume     = knob.VerbResume

	MinNodes, MaxNodes       = knob.MinNodes, knob.MaxNodes
	MinClients, MaxClients   = knob.MinClients, knob.MaxClients
	MinDuration, MaxDuration = knob.MinDuration, knob.MaxDuration
	MinDataSize, MaxDataSize = knob.MinDataSize, knob.MaxDataSize
	MaxRate                  = knob.MaxRate
)

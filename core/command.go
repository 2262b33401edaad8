package core

import (
	"encoding/binary"
	"errors"
)

// A command is one entry of a shard's Raft log as the state machine reads
// it: an op byte, the key length as a uvarint, the key, and the value filling
// the rest. It is hand-rolled rather than JSON or gob because every write is
// encoded once and decoded on every replica, and a value may be a megabyte.
const (
	opPut byte = 1 + iota
	// opNoop changes nothing. A new leader commits one before serving its
	// first linearizable read, see Cluster.Get.
	opNoop
)

// noopCommand is shared by every no-op: Raft and the state machine only read
// command bytes, so one slice serves them all.
var noopCommand = []byte{opNoop}

var errBadCommand = errors.New("core: malformed command")

// command is a decoded log entry. Its key and value alias the entry's bytes.
type command struct {
	op    byte
	key   []byte
	value []byte
}

// encodePut returns a fresh buffer, which Put hands to Raft and never touches
// again; the log entry and the state machine may then read it at leisure.
func encodePut(key string, value []byte) []byte {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(value))
	buf = append(buf, opPut)
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	return append(buf, value...)
}

func decodeCommand(b []byte) (command, error) {
	if len(b) == 0 {
		return command{}, errBadCommand
	}
	switch op := b[0]; op {
	case opNoop:
		return command{op: op}, nil
	case opPut:
		n, size := binary.Uvarint(b[1:])
		rest := b[1:]
		if size <= 0 || n > uint64(len(rest)-size) {
			return command{}, errBadCommand
		}
		rest = rest[size:]
		return command{op: op, key: rest[:n], value: rest[n:]}, nil
	default:
		return command{}, errBadCommand
	}
}

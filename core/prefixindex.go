package core

import "strings"

// maxPrefixIndexes bounds the prefixes a state machine keeps an index of;
// a scan under yet another prefix walks every key. Queries scan under one
// prefix a table.
const maxPrefixIndexes = 4

// prefixIndex is the set of the stored keys under one prefix, kept by every
// write from the first scan under it on, so that a scan walks only them.
// Keys are copies: the state machine's own alias their log entry's buffer
// (keyOf), which a map assignment lets go of on the next write, and the
// index, which keeps a key for as long as it lives, would pin its first.
type prefixIndex struct {
	prefix string
	keys   map[string]struct{}
}

func newPrefixIndex(prefix string, data map[string][]byte) *prefixIndex {
	ix := &prefixIndex{prefix: strings.Clone(prefix), keys: make(map[string]struct{})}
	for k := range data {
		if strings.HasPrefix(k, prefix) {
			ix.keys[strings.Clone(k)] = struct{}{}
		}
	}
	return ix
}

// indexFor returns an index holding every key under prefix (its own, or
// a shorter prefix's), or nil. f.mu must be held.
func (f *fsm) indexFor(prefix string) *prefixIndex {
	if prefix == "" {
		return nil
	}
	for _, ix := range f.idx {
		if strings.HasPrefix(prefix, ix.prefix) {
			return ix
		}
	}
	return nil
}

// set stores value at key. Every write of the state goes through set and
// del, so that the prefix indexes hold what the map does. f.mu must be
// held for writing.
func (f *fsm) set(key string, value []byte) {
	if len(f.idx) > 0 {
		f.index(key)
	}
	f.data[key] = value
}

// index adds key to the indexes of the prefixes it is under.
func (f *fsm) index(key string) {
	for _, ix := range f.idx {
		if strings.HasPrefix(key, ix.prefix) {
			if _, ok := ix.keys[key]; !ok {
				ix.keys[strings.Clone(key)] = struct{}{}
			}
		}
	}
}

// del deletes key. f.mu must be held for writing.
func (f *fsm) del(key string) {
	for _, ix := range f.idx {
		if strings.HasPrefix(key, ix.prefix) {
			delete(ix.keys, key)
		}
	}
	delete(f.data, key)
}

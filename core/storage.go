package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Storage modes, the values of Config.Storage.
const (
	// StorageMemory keeps every replica's Raft log, term, vote and snapshots
	// in memory. It is the default ("" means it too).
	StorageMemory = "memory"
	// StorageDisk keeps them in files under Config.DataDir: an fsync'd
	// write-ahead log (hashicorp/raft-wal) for the log, term and vote, and
	// raft's file snapshot store for snapshots, one directory per replica.
	StorageDisk = "disk"
)

const (
	// walSegmentSize is the size of a WAL segment file. raft-wal's default of
	// 64 MiB suits one Raft group per process; with a replica per shard per
	// node, smaller segments keep the files of a short run small and let
	// compaction, which deletes whole segments, free disk sooner. A segment
	// may end up larger when one batch of entries overflows it.
	walSegmentSize = 4 << 20
	// snapshotsRetained is how many snapshots a replica keeps on disk: the
	// latest and the one before it, in case the latest is being written
	// when the process dies.
	snapshotsRetained = 2
)

func (c Config) validateStorage() error {
	switch c.Storage {
	case "", StorageMemory, StorageDisk:
		return nil
	}
	return fmt.Errorf("core: storage must be %q or %q, got %q", StorageMemory, StorageDisk, c.Storage)
}

func (c Config) onDisk() bool { return c.Storage == StorageDisk }

// dataDir is where a disk-mode cluster keeps its replicas' files.
type dataDir struct {
	path string
	temp bool // made by NewCluster, removed by Close
}

// openDataDir prepares cfg's data directory in disk mode and sets
// cfg.DataDir to it: a new temporary directory when cfg.DataDir is empty,
// otherwise the given one, created if missing. A given directory must be
// empty: a cluster always starts from empty storage, on fresh addresses
// that old Raft configurations would not know, and the core never
// deletes files it did not make. In memory mode it does nothing and returns
// nil; DataDir is ignored.
func openDataDir(cfg *Config) (*dataDir, error) {
	if !cfg.onDisk() {
		return nil, nil
	}
	if cfg.DataDir == "" {
		path, err := os.MkdirTemp("", "phantom-data-")
		if err != nil {
			return nil, fmt.Errorf("core: make a temporary data dir: %w", err)
		}
		cfg.DataDir = path
		return &dataDir{path: path, temp: true}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("core: make data dir: %w", err)
	}
	entries, err := os.ReadDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("core: read data dir: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("core: data dir %s is not empty; a cluster starts from an empty one", cfg.DataDir)
	}
	return &dataDir{path: cfg.DataDir}, nil
}

// close removes a temporary data dir and leaves a given one. It is safe on
// nil, and must run after every replica has stopped and closed its files.
func (d *dataDir) close() error {
	if d == nil || !d.temp {
		return nil
	}
	if err := os.RemoveAll(d.path); err != nil {
		return fmt.Errorf("core: remove data dir: %w", err)
	}
	return nil
}

// DataDir returns the directory the cluster keeps its Raft files in, the
// temporary one NewCluster made included; "" in memory mode.
func (c *Cluster) DataDir() string {
	if !c.cfg.onDisk() {
		return ""
	}
	return c.cfg.DataDir
}

// initStorage gives a new seat its durable state. In memory mode that is
// the stores themselves, which outlive every crash of the seat's replicas.
// In disk mode it is a directory of its own, <DataDir>/<group>/<node>, made
// empty: a replica that joins a group starts from nothing. Should the same
// shard come back to the same node later, the new seat gets a fresh
// directory beside the old one (<node>.2, <node>.3, ...).
func (st *seat) initStorage(cfg Config) error {
	if !cfg.onDisk() {
		logs := raft.NewInmemStore()
		st.logs, st.stable, st.snaps = logs, logs, newMemSnapshotStore()
		return nil
	}
	group := "shard-" + strconv.Itoa(st.shard.id)
	if st.shard.id == metaShardID {
		group = "meta"
	}
	parent := filepath.Join(cfg.DataDir, group)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("core: make data dir of shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	for i := 1; ; i++ {
		name := st.node.id
		if i > 1 {
			name += "." + strconv.Itoa(i)
		}
		dir := filepath.Join(parent, name)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			st.dir = dir
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("core: make data dir of shard %d on %s: %w", st.shard.id, st.node.id, err)
		}
	}
}

// openStores readies st's stores for a new replica and returns what closes
// them once that replica's raft has shut down. In memory mode the stores
// are already there and closing does nothing. In disk mode each run opens
// the seat's directory afresh, as a restarted process would, and closing
// releases the files (and the bolt file lock) so that the next run can open
// them again. It runs in NewCluster or under Cluster.mu, never alongside
// another run of the same seat.
func (st *seat) openStores(logger hclog.Logger) (closeStores func() error, err error) {
	if st.dir == "" {
		return func() error { return nil }, nil
	}
	walDir := filepath.Join(st.dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("core: open log of shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	// raft-wal's Close leaves its meta store open (v0.4.0), and bolt holds
	// an exclusive flock on its file, which the next Open in this process
	// would wait on for ever; so the meta store is ours to close.
	meta := &metadb.BoltMetaDB{}
	// Both loggers must be given: raft-wal's and the file snapshot store's
	// defaults write to stderr.
	w, err := wal.Open(walDir,
		wal.WithMetaStore(meta),
		wal.WithLogger(logger.Named("wal")),
		wal.WithSegmentSize(walSegmentSize))
	if err != nil {
		_ = meta.Close()
		return nil, fmt.Errorf("core: open log of shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	closeStores = func() error {
		// WAL.Close waits for writes in progress; its goroutine (segment
		// rotation) exits on it.
		return errors.Join(w.Close(), meta.Close())
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(st.dir, snapshotsRetained, logger.Named("snapshots"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("core: open snapshots of shard %d on %s: %w", st.shard.id, st.node.id, err), closeStores())
	}
	st.logs, st.stable, st.snaps = w, w, snaps
	return closeStores, nil
}

// The state machine keeps values that alias log entries (fsm.go's keyOf).
// Neither store reuses entry buffers, so that is safe in both modes:
// raft.InmemStore hands back the entries raft gave it, which nobody writes
// again; raft-wal (v0.4.0) encodes each entry into a new buffer on
// StoreLogs and, on GetLog, decodes Data into a freshly allocated slice
// (BinaryCodec's decoder copies out of its pooled read buffer before the
// buffer goes back to the pool).

// removeStorage deletes a dropped seat's directory in disk mode, once its
// replica has stopped (and so closed its files); in memory mode it does
// nothing. Without it a dropped seat's files stay until Close removes a
// temporary DataDir, or for good in a given one.
func (st *seat) removeStorage() error {
	if st.dir == "" {
		return nil
	}
	if err := os.RemoveAll(st.dir); err != nil {
		return fmt.Errorf("core: remove data of shard %d on %s: %w", st.shard.id, st.node.id, err)
	}
	return nil
}

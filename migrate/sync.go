package migrate

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/fence"
)

// Sync moves tables from one server to another while the application
// keeps writing to them: a snapshot copy (the Copier, its position
// recorded), then the source's binary log applied to the target from that
// position (catching up, then in sync), until the host calls Cutover, which
// stops writes on the source, waits for the target to hold everything,
// verifies the tables, calls the host's switch (WithSwitch) and restores
// the source's writes. It is the seed's live move, with a write pause of
// about the verification's time instead of minutes of manual steps. Made
// WithReverseSync, the cutover keeps the source fenced instead, for a
// rollback window: Reverse applies the target's writes back into the
// source until its CutBack switches the application back, or End.
//
// Run goes through the phases of Phase and reports them in Progress. It
// resumes after a crash in any phase: an interrupted copy continues from
// its checkpoint, the stream from the position saved with the last
// transaction applied (exactly once), and grants a crashed cutover revoked
// are restored first. It rides out server restarts: a source that is away
// when Run starts, or goes away during the copy or later (a lost
// replication connection, or no answer when the stream starts or
// reconnects), is waited for with backoff up to WithSourceWait
// (PhaseWaitingForSource), then the copy resumes from its checkpoint and
// the stream from the last transaction applied, while a refusal
// (privileges, a purged position, the binlog settings) still fails Run at
// once. A target that goes away (shut down, restarting, connection lost)
// during the copy, the catch-up or the sync is waited for up to
// WithTargetWait (PhaseWaitingForTarget), then the copy resumes from its
// checkpoint and the stream from the position the target holds.
//
// The source needs binlog_format=ROW, binlog_row_image=FULL,
// binlog_row_metadata=FULL and GTIDs (MariaDB; the MySQL flavor is written
// from its documentation and untested), and every moved table a primary
// key or a unique NOT NULL key. The source account needs REPLICATION SLAVE
// and BINLOG MONITOR (or REPLICATION CLIENT) besides what the copy needs.
// The target must not be written by anyone but the Sync until cutover.
//
// A copy that was resumed (after a crash or an outage of either server,
// the rest read in new snapshots; or made WithSnapshot(SnapshotNone)) is
// replayed from its first position, which every table's copy covers: the
// applier converges rows that the copy already holds, but a secondary
// unique value that moved between rows in that window can stop the
// catch-up with a duplicate-key error naming the table; start such a move
// over with WithReplace.
type Sync struct {
	source, target *mysql.Config
	database       string
	copier         *Copier
	cfg            syncConfig

	running  runGuard
	requests chan cutoverRequest
	// runDone is closed when the current Run returns (nil: none started).
	runDone chan struct{}

	// reverseOf is the move a reverse sync (ReverseSync) follows back:
	// this Sync is its mirror, source and target swapped.
	reverseOf *Sync

	mu    sync.Mutex
	phase Phase

	// hook, set by tests (SetSyncHook), is called at named points.
	hook func(point string)
}

var _ Executor = (*Sync)(nil)

// Phase is where a Sync's Run is.
type Phase string

// The phases of a Sync, in order; Failed can follow any,
// WaitingForTarget can interrupt copying, catching up and in sync, and
// WaitingForSource can come first or interrupt the same.
const (
	PhaseCopying     Phase = "copying"
	PhaseCatchingUp  Phase = "catching up"
	PhaseInSync      Phase = "in sync"
	PhaseCuttingOver Phase = "cutting over"
	PhaseVerifying   Phase = "verifying"
	PhaseDone        Phase = "done"
	PhaseFailed      Phase = "failed"
	// PhaseWaitingForTarget: the target went away (server down or
	// restarting, connection lost) during the copy, the catch-up or the
	// sync; the sync retries with backoff for up to WithTargetWait, then
	// resumes the copy from its checkpoint, or the stream from the
	// position the target holds (catching up), or fails.
	PhaseWaitingForTarget Phase = "waiting for target"
	// PhaseWaitingForSource: the source went away (server down or
	// restarting, connection lost) when Run started, during the copy, the
	// catch-up or the sync; the sync retries with backoff for up to
	// WithSourceWait, then goes on, or fails: the copy resumes from its
	// checkpoint, the stream from the last transaction applied (catching
	// up). Cutover is refused meanwhile.
	PhaseWaitingForSource Phase = "waiting for source"
)

// Errors of a Sync's cutover.
var (
	// ErrNotInSync: Cutover was called while the sync is not running, or
	// is still copying or catching up, or its lag is above WithMaxLag.
	ErrNotInSync = errors.New("sync is not in sync")
	// ErrSchemaChange: the source changed the schema of a moved table
	// while the sync followed it (WithDDL(DDLStop)); the error names the
	// statement and the table.
	ErrSchemaChange = binlog.ErrDDL
	// ErrCutOver: the move already cut over (the application writes the
	// target now): it neither resumes nor syncs again. WithReplace starts
	// a new move over the target's tables.
	ErrCutOver = errors.New("the move already cut over")
	// ErrDrain: the cutover's wait for the application's sessions ended
	// with some still running a statement or holding a transaction (or,
	// after a database-level revoke, connected since before it); the error
	// lists them. Writes were restored and the sync goes on.
	ErrDrain = fence.ErrDrain
)

// NewSync prepares a live move of database (or the tables WithTables
// names) from the server at sourceDSN to the server at targetDSN. It
// connects to nothing: call Plan for a dry run.
func NewSync(sourceDSN, targetDSN, database string, opts ...SyncOption) (*Sync, error) {
	cfg := syncConfig{maxLag: DefaultMaxLag, drainWait: fence.DefaultDrainTimeout, cutoverTimeout: DefaultCutoverTimeout, targetWait: DefaultTargetWait, sourceWait: DefaultSourceWait}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("migrate: sync: %w", errors.New("nil option"))
		}
		if err := o.applySync(&cfg); err != nil {
			return nil, fmt.Errorf("migrate: sync: %w", err)
		}
	}
	if cfg.reverse && cfg.fence == FenceFlushTables {
		return nil, fmt.Errorf("migrate: sync: %w", optionError("WithReverseSync", "needs WithFence(FenceAccounts, ...) or FenceReadOnly: the %s fence's lock would stop the reverse sync's writes to the source too", cfg.fence))
	}
	if cfg.kill && cfg.fence != FenceAccounts {
		return nil, fmt.Errorf("migrate: sync: %w", optionError("WithDrainWait", "killing sessions applies to WithFence(FenceAccounts) only: the %s fence's lock waits for every session", cfg.fence))
	}
	c, err := NewCopier(sourceDSN, targetDSN, database, cfg.copier...)
	if err != nil {
		return nil, fmt.Errorf("migrate: sync of %s: %w", database, err)
	}
	if cfg.serverID == 0 {
		h := fnv.New32a()
		h.Write([]byte(c.target.Addr + "/" + c.cfg.targetDatabase))
		cfg.serverID = 1<<30 | h.Sum32()>>2
	}
	return &Sync{source: c.source, target: c.target, database: database, copier: c, cfg: cfg, requests: make(chan cutoverRequest)}, nil
}

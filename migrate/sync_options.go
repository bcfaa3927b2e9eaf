package migrate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shiftgate/shiftgate/internal/binlog"
	"github.com/shiftgate/shiftgate/internal/fence"
)

// SyncOption configures a Sync (NewSync). Every CopierOption is a
// SyncOption too and configures the Sync's snapshot copy (WithTables,
// WithTargetDatabase, WithThreads...).
type SyncOption interface {
	applySync(*syncConfig) error
}

func (o copyOption) applySync(c *syncConfig) error     { c.copier = append(c.copier, o); return nil }
func (o copierOption) applySync(c *syncConfig) error   { c.copier = append(c.copier, o); return nil }
func (o executorOption) applySync(c *syncConfig) error { c.copier = append(c.copier, o); return nil }
func (o engineOption) applySync(c *syncConfig) error   { c.copier = append(c.copier, o); return nil }
func (o chunkOption) applySync(c *syncConfig) error    { c.copier = append(c.copier, o); return nil }
func (o rowsOption) applySync(c *syncConfig) error     { c.copier = append(c.copier, o); return nil }

// syncOption is an option only a Sync takes.
type syncOption func(*syncConfig) error

func (o syncOption) applySync(c *syncConfig) error { return o(c) }

// syncConfig holds a Sync's own options; copier holds the options of its
// snapshot copy.
type syncConfig struct {
	copier         []CopierOption
	serverID       uint32
	maxLag         time.Duration
	fence          FenceMethod
	accounts       []fence.Account
	drainWait      time.Duration
	kill           bool
	cutoverTimeout time.Duration
	switchHook     func(ctx context.Context) error
	ddl            DDLPolicy
	targetWait     time.Duration
	sourceWait     time.Duration
	pendingSwitch  PendingSwitch
	// reverse: WithReverseSync; switchBack its host's switch back.
	reverse    bool
	switchBack func(ctx context.Context) error
}

// Defaults of a Sync.
const (
	DefaultMaxLag         = 2 * time.Second
	DefaultCutoverTimeout = 30 * time.Second
	DefaultTargetWait     = 5 * time.Minute
	DefaultSourceWait     = 5 * time.Minute
)

// FenceMethod is how a Sync's cutover stops writes to the moved tables on
// the source.
type FenceMethod int

const (
	// FenceFlushTables (the default) holds FLUSH TABLES ... WITH READ LOCK
	// on the moved tables from a session of the Sync's own: every
	// session's writes to them wait. After the switch, the sessions whose
	// writes still wait are killed before the lock goes, so that no write
	// lands on the source after the application moved: the application
	// sees a lost connection and retries on the target. Needs RELOAD.
	//
	// The lock lasts as long as the process that holds it. If that process
	// dies during the cutover, the writes queued behind the lock run on
	// the source at once, and the source takes writes again. Before the
	// switch was recorded (drain, catch-up, verification) nothing is lost:
	// the next Run syncs them like any other. Once the cutover recorded
	// its switch (the host's switch may have run, in part or whole, or
	// not), they are not on the target: the next Run takes the lock again
	// and reads the source's binary log from the position the target was
	// verified equal at. If the moved tables took no change since, it
	// finishes the cutover (the switch again, the cutover recorded, the
	// sessions queued behind the lock killed, the lock released). If they
	// took some, it releases the lock and fails with ErrSwitchPending,
	// saying how many changes and between which positions, unless the
	// host decided with WithPendingSwitch. The sessions queued behind
	// the lock are killed before the cutover is recorded done, and again
	// before the release; a crash in between lets the writes queued since
	// run on the source: the next Run counts the source's changes to the
	// moved tables since the verified position and reports them
	// (CutoverReport.UnappliedChanges, and a warning in the log) instead
	// of ErrCutOver. FenceAccounts and FenceReadOnly, whose fences outlive
	// the process, have none of these gaps.
	FenceFlushTables FenceMethod = iota
	// FenceAccounts is the seed's way: the named application accounts
	// (WithFence) lose their write privileges on the moved tables, and
	// the cutover waits until none of their sessions still runs a
	// statement or holds a transaction (killing them with
	// WithDrainWait(d, true)). The original grants are recorded on the
	// target before they change and restored exactly by the cutover, and
	// by the next Run after a crash. A session connected before the
	// revoke keeps database-level and global privileges (measured on
	// MariaDB 10.11): the drain waits for such sessions to end.
	FenceAccounts
	// FenceReadOnly sets read_only on the whole source server for the
	// cutover: every account's writes to every table stop, except those
	// of accounts with READ_ONLY ADMIN (refused when named in WithFence).
	FenceReadOnly
)

func (m FenceMethod) String() string {
	switch m {
	case FenceFlushTables:
		return "flush-tables"
	case FenceAccounts:
		return "accounts"
	case FenceReadOnly:
		return "read-only"
	}
	return fmt.Sprintf("FenceMethod(%d)", int(m))
}

func (m FenceMethod) fenceMethod() fence.Method {
	switch m {
	case FenceAccounts:
		return fence.Accounts
	case FenceReadOnly:
		return fence.ReadOnly
	}
	return fence.FlushTables
}

// DDLPolicy is what a Sync does with a schema change the source makes to a
// moved table while it follows the binary log.
type DDLPolicy int

const (
	// DDLStop (the default) stops the sync with an error naming the
	// statement and the table.
	DDLStop DDLPolicy = iota
	// DDLSkip ignores it: the tables differ afterwards, and the cutover's
	// verification fails unless the host makes the same change on the
	// target.
	DDLSkip
	// DDLApply runs the statement on the target too. Statements that name
	// a table moved under another name are refused.
	DDLApply
)

func (p DDLPolicy) binlogPolicy() binlog.DDLPolicy {
	switch p {
	case DDLSkip:
		return binlog.DDLSkip
	case DDLApply:
		return binlog.DDLApply
	}
	return binlog.DDLStop
}

// WithServerID is the server id the Sync registers with on the source, as
// a replica does: it must differ from the source's and from every other
// replica's, or the source drops one of the two connections. By default
// it is derived from the target server and database, so that two syncs
// into different databases differ.
func WithServerID(id uint32) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if id == 0 {
			return optionError("WithServerID", "0 cannot register as a replica")
		}
		c.serverID = id
		return nil
	})
}

// WithMaxLag is the lag under which the sync counts as in sync, and above
// which Cutover is refused (default DefaultMaxLag).
func WithMaxLag(d time.Duration) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if d <= 0 {
			return optionError("WithMaxLag", "%v is not positive", d)
		}
		c.maxLag = d
		return nil
	})
}

// WithFence chooses how the cutover stops writes on the source. accounts
// ("user@host"; "user" means "user@%") are required by FenceAccounts,
// checked for read_only bypass by FenceReadOnly, refused by
// FenceFlushTables, whose lock waits for every session.
func WithFence(method FenceMethod, accounts ...string) SyncOption {
	return syncOption(func(c *syncConfig) error {
		switch method {
		case FenceFlushTables, FenceAccounts, FenceReadOnly:
		default:
			return optionError("WithFence", "unknown method %v", method)
		}
		if method == FenceAccounts && len(accounts) == 0 {
			return optionError("WithFence", "method %s needs the application's account(s)", method)
		}
		if method == FenceFlushTables && len(accounts) > 0 {
			return optionError("WithFence", "method %s takes no accounts: its lock waits for every session", method)
		}
		c.fence, c.accounts = method, nil
		for _, a := range accounts {
			user, host, found := strings.Cut(a, "@")
			if !found {
				host = "%"
			}
			if user == "" || host == "" {
				return optionError("WithFence", "account %q: want user@host", a)
			}
			c.accounts = append(c.accounts, fence.Account{User: user, Host: host})
		}
		return nil
	})
}

// WithDrainWait bounds the cutover's wait for the fenced accounts'
// sessions to finish their statements and transactions, or for the lock
// to be had (default 10s). With kill, FenceAccounts kills the sessions
// still active after the wait instead of abandoning the cutover.
func WithDrainWait(d time.Duration, kill bool) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if d <= 0 {
			return optionError("WithDrainWait", "%v is not positive", d)
		}
		c.drainWait, c.kill = d, kill
		return nil
	})
}

// WithCutoverTimeout bounds the cutover's wait, writes stopped, for the
// target to apply everything the source logged before the fence (default
// DefaultCutoverTimeout). When it passes, writes are restored and the
// sync goes on.
func WithCutoverTimeout(d time.Duration) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if d <= 0 {
			return optionError("WithCutoverTimeout", "%v is not positive", d)
		}
		c.cutoverTimeout = d
		return nil
	})
}

// WithSwitch sets the host's switch: called by the cutover once writes
// are stopped, the target holds everything and verification found it
// equal, to point the application at the target (flip its configuration).
// Writes to the source are restored after it returns; when it returns an
// error they are restored, the cutover fails with it and the sync goes on.
//
// It must be idempotent: a Run after a crash during or after it, before
// the cutover was recorded done, calls it again to finish the cutover
// (the application may write the target already, so the move does not
// sync again). Until it returns nil there, every Run calls it again, the
// source's writes stopped meanwhile, and returns ErrSwitchPending when it
// fails. FenceFlushTables differs: its lock ended with the process that
// crashed, and a Run finishes the cutover only if the source took no
// change to the moved tables since (see FenceFlushTables and
// WithPendingSwitch).
func WithSwitch(f func(ctx context.Context) error) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if f == nil {
			return optionError("WithSwitch", "nil function")
		}
		c.switchHook = f
		return nil
	})
}

// WithDDL sets what the sync does with schema changes to moved tables
// (default DDLStop).
func WithDDL(p DDLPolicy) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if p < DDLStop || p > DDLApply {
			return optionError("WithDDL", "unknown policy %d", p)
		}
		c.ddl = p
		return nil
	})
}

// WithTargetWait bounds how long the sync waits for a target that went
// away (the server shut down or restarting, the connection refused or
// lost) to come back (default DefaultTargetWait), in every phase of Run
// before the cutover: its start, the copy, the catch-up, the sync.
// Meanwhile the phase is PhaseWaitingForTarget and the sync reconnects
// with backoff; once the target answers, the copy resumes from its
// checkpoint and the stream from the position the target holds, so
// nothing is lost or applied twice. When the wait passes, Run fails with
// ErrConnect naming the target, how long it waited and the option, and a
// later Run resumes. WithSourceWait is the same bound for the source.
func WithTargetWait(d time.Duration) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if d <= 0 {
			return optionError("WithTargetWait", "%v is not positive", d)
		}
		c.targetWait = d
		return nil
	})
}

// WithSourceWait bounds how long the sync waits for a source that went
// away (the server shut down or restarting, the connection refused or
// lost, no answer when the stream starts or reconnects) to come back
// (default DefaultSourceWait), in every phase of Run before the cutover:
// its start, the copy, the catch-up, the sync. Meanwhile the phase is
// PhaseWaitingForSource, Cutover is refused and the sync reconnects with
// backoff; once the source answers, the copy resumes from its checkpoint
// and the stream from the last transaction applied. When the wait passes,
// Run fails with ErrConnect naming the source, how long it waited and the
// option, and a later Run resumes. A source that answers with a refusal
// (privileges, a purged position, the binlog settings) fails Run at once.
func WithSourceWait(d time.Duration) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if d <= 0 {
			return optionError("WithSourceWait", "%v is not positive", d)
		}
		c.sourceWait = d
		return nil
	})
}

// PendingSwitch is the host's decision about a cutover that recorded its
// switch and whose process died holding the FenceFlushTables lock, when
// the source took changes to the moved tables after the lock ended: they
// are not on the target, and only the host knows whether its switch ran.
type PendingSwitch int

const (
	// PendingSwitchRefuse (the default): Run fails with ErrSwitchPending,
	// naming the changes' positions; the source takes writes, the
	// cutover stays recorded and nothing is synced into the target.
	PendingSwitchRefuse PendingSwitch = iota
	// PendingSwitchAbandon: the application was never switched (it wrote
	// the source only, never the target). Run forgets the recorded switch
	// and resumes the sync from the position the target holds: it applies
	// the source's changes, and Cutover can be called again. If the
	// application did write the target, the sync may overwrite those
	// writes.
	PendingSwitchAbandon
	// PendingSwitchFinish: the application was switched. Run takes the
	// lock, calls the switch again and records the cutover without the
	// source's changes, which it counts in CutoverReport.UnappliedChanges
	// (from SourcePosition to UnappliedUntil) and logs: the host
	// reconciles them by hand.
	PendingSwitchFinish
)

// WithPendingSwitch tells the next Run what to do with a cutover that
// recorded its switch and whose process died holding the FenceFlushTables
// lock, once the source took changes to the moved tables after the lock
// ended (see PendingSwitch; default PendingSwitchRefuse). It changes
// nothing when there is no such cutover, and a cutover whose source took
// no change is finished in any case. It is the host's answer to
// ErrSwitchPending: pass it to one Run, not to every one.
func WithPendingSwitch(d PendingSwitch) SyncOption {
	return syncOption(func(c *syncConfig) error {
		if d < PendingSwitchRefuse || d > PendingSwitchFinish {
			return optionError("WithPendingSwitch", "unknown decision %d", d)
		}
		c.pendingSwitch = d
		return nil
	})
}

// WithReverseSync keeps a way back after the cutover, for a rollback
// window: the cutover reads the target's GTID position while the source is
// still fenced, saves it on the source as the start of the reverse stream
// ("reverse.<database>" in the source's checkpoint database) and leaves
// the source fenced after the switch, so that the application cannot
// write it while Sync.Reverse applies the target's binary log back into
// the source's tables. The reverse's CutBack switches back with the same
// fence, catch-up and verification, the roles swapped, and calls
// switchBack (nil: no call) where the cutover calls WithSwitch; a Run
// after a crash during or after switchBack calls it again (see
// ReverseSync), so it must be idempotent.
//
// It needs a fence that leaves the Sync's own source account writing:
// WithFence(FenceAccounts, ...), or FenceReadOnly with READ_ONLY ADMIN
// (SUPER before MariaDB 10.11) for that account and a target on another
// server; FenceFlushTables is refused. The target
// must meet the source's binary log requirements (ROW format, FULL row
// image and metadata, GTIDs) and its account may read its binary log:
// Plan, Run and Cutover refuse otherwise, before anything is switched.
// The cut-back fences the target's tables with the cutover's method and
// accounts, which must exist there.
func WithReverseSync(switchBack func(ctx context.Context) error) SyncOption {
	return syncOption(func(c *syncConfig) error {
		c.reverse, c.switchBack = true, switchBack
		return nil
	})
}

package migrate

// SetOnlineAlterHook makes a's Run call hook at its named points
// ("shadow-altered": the ALTER clause ran on the shadow; "shadow-created":
// its indexes deferred, before its position is recorded; "catching-up": the stream runs, before the catch-up;
// "verifying": before the verification; "verify-locked": the verification's
// READ lock is held, before the catch-up under it; "verify-unlocking": the
// snapshots are open (or the attempt failed), before that lock is released; "rename-waiting": the cut-over
// holds its lock, the RENAME waits for it, the sentry is not dropped yet;
// "swapped": the RENAME ran, before the checkpoint is forgotten). hook runs on Run's goroutine: blocking in it holds Run
// there.
func SetOnlineAlterHook(a *OnlineAlter, hook func(point string)) { a.hook = hook }

// SplitAlter is splitAlter, for its tests.
var SplitAlter = splitAlter

// VerifyParallelism is the verification's connections per table of an
// OnlineAlter's cut-over.
const VerifyParallelism = verifyParallelism

// SetSyncHook makes s's cutover call hook at its named points
// ("cutover-recorded": the cutover is recorded done, the FenceFlushTables
// lock still held). hook runs on Run's goroutine.
func SetSyncHook(s *Sync, hook func(point string)) { s.hook = hook }

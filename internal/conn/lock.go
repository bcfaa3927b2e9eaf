package conn

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLocked is wrapped by Lock's error when another session holds the lock
// beyond the wait.
var ErrLocked = errors.New("named lock held by another session")

// maxLockName is MariaDB's limit on the length of a lock name.
const maxLockName = 64

// LockName returns name as the server takes it: unchanged up to 64
// characters, else its first 31 characters, a dot and 32 hex digits of its
// SHA-256, so that long names stay distinct.
func LockName(name string) string {
	if len(name) <= maxLockName {
		return name
	}
	return fmt.Sprintf("%s.%x", name[:31], sha256.Sum256([]byte(name)))[:maxLockName]
}

// Lock takes the server-wide named lock name (GET_LOCK, through LockName)
// on a connection of its own from db, waiting up to timeout for another
// session to release it (0: not at all; whole seconds, rounded up). The
// lock lasts until release (which may be called more than once) is called
// or the connection dies (a killed process loses it). When another session
// holds it, the error wraps ErrLocked and names the lock.
func Lock(ctx context.Context, db *sql.DB, name string, timeout time.Duration) (release func(), err error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", LockName(name), err)
	}
	unlock, err := LockOn(ctx, c, name, timeout)
	if err != nil {
		Discard(c)
		return nil, err
	}
	return func() {
		if unlock() != nil {
			Discard(c) // closing the session releases the lock
			return
		}
		_ = c.Close()
	}, nil
}

// LockOn is Lock on the open connection c, for a caller that goes on to
// use c (a pool of one connection has no second one to lock on). release
// releases the lock and leaves c open; it returns the error of
// RELEASE_LOCK, after which closing c is what releases it.
func LockOn(ctx context.Context, c *sql.Conn, name string, timeout time.Duration) (release func() error, err error) {
	name = LockName(name)
	secs := int64((timeout + time.Second - 1) / time.Second)
	var got sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, secs).Scan(&got); err != nil {
		return nil, fmt.Errorf("lock %q: %w", name, err)
	}
	if got.Int64 != 1 {
		return nil, fmt.Errorf("lock %q: %w", name, ErrLocked)
	}
	var once sync.Once
	var rerr error
	return func() error {
		once.Do(func() {
			_, rerr = c.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", name)
		})
		return rerr
	}, nil
}

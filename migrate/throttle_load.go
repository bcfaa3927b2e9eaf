package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shiftgate/shiftgate/internal/conn"
)

// LoadLimits are a LoadThrottler's limits; a zero limit is not checked.
type LoadLimits struct {
	// MaxThreadsRunning holds the work while the source's
	// Threads_running (its own reading included) is above it.
	MaxThreadsRunning int
	// MaxReplicaLag holds the work while a replica of Replicas is more
	// than this behind (Seconds_Behind_Master of each of its replication
	// connections); a replica whose lag is unknown (replication stopped)
	// holds it too.
	MaxReplicaLag time.Duration
	// Replicas are the DSNs (go-sql-driver) of the source's replicas
	// whose lag is read: listed, not discovered, as gh-ost's
	// --throttle-control-replicas. The source's SHOW SLAVE HOSTS lists
	// every reader of its binary log (shiftgate's own change streams and
	// other change-data tools among them) under the host each reports
	// (report_host, often unset) and with no account to read its status
	// with. Each is read with SHOW ALL SLAVES STATUS (MariaDB) or SHOW
	// REPLICA STATUS (MySQL): the account needs REPLICATION CLIENT (SLAVE
	// MONITOR on MariaDB 10.5.9 and later).
	Replicas []string
	// Interval is how often the limits are read again while the work is
	// held, and how long a reading is trusted (default 1s).
	Interval time.Duration
}

// ErrNotReplica: a server given as a replica of a LoadThrottler
// replicates from nothing.
var ErrNotReplica = errors.New("server is not a replica")

// LoadThrottler is a Throttler (WithThrottler) that holds a copy's next
// chunk while the source is loaded or its replicas lag (LoadLimits), and
// while it is paused (Pause, Resume): a held Throttle rechecks every
// Interval and returns when the limits allow, or with ctx.Err() when ctx
// is done. A server that cannot be read stops the work with an
// *EndpointError naming it (ErrConnect when it cannot be reached,
// ErrNotReplica when a listed replica replicates from nothing): a
// replica whose lag cannot be read is not taken as caught up, and the
// work, resumable from its checkpoint, is not held for ever on a replica
// that may be gone for good. Safe for concurrent use; Close releases its
// connections.
type LoadThrottler struct {
	limits   LoadLimits
	source   *mysql.Config
	replicas []*mysql.Config
	logger   *slog.Logger

	mu      sync.Mutex
	dbs     map[string]*sql.DB
	paused  bool
	resumed chan struct{} // closed by Resume
	checked time.Time     // when the limits were last found met
	reason  string        // why the work is held, "" when it is not
}

var _ Throttler = (*LoadThrottler)(nil)

// NewLoadThrottler checks the limits against the source at sourceDSN and
// the replicas; it connects to nothing until the first Throttle. logger
// receives a line when the work is held and when it goes on (nil
// discards them).
func NewLoadThrottler(sourceDSN string, limits LoadLimits, logger *slog.Logger) (*LoadThrottler, error) {
	if limits.MaxThreadsRunning < 0 || limits.MaxReplicaLag < 0 || limits.Interval < 0 {
		return nil, optionError("NewLoadThrottler", "negative limit in %+v", limits)
	}
	if limits.MaxReplicaLag > 0 && len(limits.Replicas) == 0 {
		return nil, optionError("NewLoadThrottler", "a replica lag limit without replicas")
	}
	if limits.Interval == 0 {
		limits.Interval = time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &LoadThrottler{limits: limits, logger: logger, dbs: map[string]*sql.DB{}}
	var err error
	if l.source, err = parseDSN(Source, sourceDSN); err != nil {
		return nil, err
	}
	for i, dsn := range limits.Replicas {
		cfg, err := parseDSN(Source, dsn)
		if err != nil {
			return nil, fmt.Errorf("migrate: replica %d: %w", i+1, err)
		}
		l.replicas = append(l.replicas, cfg)
	}
	return l, nil
}

// Pause holds every Throttle until Resume.
func (l *LoadThrottler) Pause() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.paused {
		l.paused, l.resumed = true, make(chan struct{})
		l.logger.Info("throttler: paused")
	}
}

// Resume lets the work held by Pause go on.
func (l *LoadThrottler) Resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused {
		l.paused = false
		close(l.resumed)
		l.logger.Info("throttler: resumed")
	}
}

// Held says why the work is held ("paused", or the limit exceeded), ""
// when it is not.
func (l *LoadThrottler) Held() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused {
		return "paused"
	}
	return l.reason
}

// Throttle returns when the throttler is not paused and the limits are
// met (read at most every Interval).
func (l *LoadThrottler) Throttle(ctx context.Context, table string) error {
	for {
		l.mu.Lock()
		paused, resumed, fresh := l.paused, l.resumed, time.Since(l.checked) < l.limits.Interval
		l.mu.Unlock()
		if paused {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-resumed:
			}
			continue
		}
		if fresh {
			return nil
		}
		reason, err := l.exceeded(ctx)
		if err != nil {
			return err
		}
		l.mu.Lock()
		was := l.reason
		l.reason = reason
		if reason == "" {
			l.checked = time.Now()
		}
		l.mu.Unlock()
		switch {
		case reason == "" && was != "":
			l.logger.Info("throttler: going on", "table", table)
		case reason != "" && was == "":
			l.logger.Info("throttler: holding", "table", table, "reason", reason)
		}
		if reason == "" {
			return nil
		}
		t := time.NewTimer(l.limits.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// exceeded reads the limits: why the work must wait, "" when it need not.
func (l *LoadThrottler) exceeded(ctx context.Context) (string, error) {
	if limit := l.limits.MaxThreadsRunning; limit > 0 {
		db, err := l.db(ctx, l.source)
		if err != nil {
			return "", err
		}
		var name string
		var n int
		if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &n); err != nil {
			return "", &EndpointError{Side: Source, Endpoint: conn.Endpoint(l.source), Object: serverFault, Err: fmt.Errorf("reading Threads_running: %w", err)}
		}
		if n > limit {
			return fmt.Sprintf("Threads_running %d above %d on %s", n, limit, conn.Endpoint(l.source)), nil
		}
	}
	if l.limits.MaxReplicaLag == 0 {
		return "", nil
	}
	for _, r := range l.replicas {
		lag, known, err := l.replicaLag(ctx, r)
		if err != nil {
			return "", err
		}
		switch {
		case !known:
			return "replica " + conn.Endpoint(r) + ": lag unknown (replication stopped)", nil
		case lag > l.limits.MaxReplicaLag:
			return fmt.Sprintf("replica %s: lag %s above %s", conn.Endpoint(r), lag, l.limits.MaxReplicaLag), nil
		}
	}
	return "", nil
}

// replicaLag is the largest Seconds_Behind_Master of the replica's
// connections; known is false when one of them has none.
func (l *LoadThrottler) replicaLag(ctx context.Context, r *mysql.Config) (lag time.Duration, known bool, err error) {
	fail := func(err error) (time.Duration, bool, error) {
		return 0, false, &EndpointError{Side: Source, Endpoint: conn.Endpoint(r), Object: "replica", Err: err}
	}
	db, err := l.db(ctx, r)
	if err != nil {
		return 0, false, err
	}
	rows, err := db.QueryContext(ctx, "SHOW ALL SLAVES STATUS")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1064 { // MySQL: no ALL SLAVES
		rows, err = db.QueryContext(ctx, "SHOW REPLICA STATUS")
	}
	if err != nil {
		return fail(fmt.Errorf("reading its replication status: %w", err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fail(err)
	}
	at := -1
	for i, c := range cols {
		if c == "Seconds_Behind_Master" || c == "Seconds_Behind_Source" {
			at = i
		}
	}
	if at < 0 {
		return fail(errors.New("its replication status has no Seconds_Behind_Master"))
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	known = true
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fail(err)
		}
		n++
		if vals[at] == nil {
			known = false
			continue
		}
		s, err := strconv.Atoi(strings.TrimSpace(string(vals[at])))
		if err != nil {
			return fail(fmt.Errorf("Seconds_Behind_Master %q: %w", vals[at], err))
		}
		lag = max(lag, time.Duration(s)*time.Second)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if n == 0 {
		return fail(ErrNotReplica)
	}
	return lag, known, nil
}

// db is the pool to cfg's server, opened on first use.
func (l *LoadThrottler) db(ctx context.Context, cfg *mysql.Config) (*sql.DB, error) {
	key := cfg.FormatDSN()
	l.mu.Lock()
	db := l.dbs[key]
	l.mu.Unlock()
	if db != nil {
		return db, nil
	}
	db, err := openSide(ctx, Source, cfg, conn.Options{MaxConns: 1, Logger: l.logger})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev := l.dbs[key]; prev != nil {
		db.Close()
		return prev, nil
	}
	l.dbs[key] = db
	return db, nil
}

// Close closes the throttler's connections.
func (l *LoadThrottler) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for k, db := range l.dbs {
		errs = append(errs, db.Close())
		delete(l.dbs, k)
	}
	return errors.Join(errs...)
}
